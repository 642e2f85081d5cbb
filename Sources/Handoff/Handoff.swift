// The library product: one import for the CLI and for users of Handoff as a package. The layers
// below are separate modules (Package.swift); this one only re-exports them.
@_exported import HandoffAnalysis
@_exported import HandoffEngine
@_exported import HandoffModel
@_exported import HandoffSim
@_exported import HandoffSupport
