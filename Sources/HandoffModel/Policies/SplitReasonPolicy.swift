import HandoffSupport

/// Segment offload as in SplitReason (arXiv 2504.16379): the small model decodes; when a token's
/// difficulty exceeds `offload_threshold`, the large model generates from that token on, for at
/// least `min_segment_tokens`, until a token's difficulty falls back to the threshold or below,
/// and for at most `max_segment_tokens`; then control returns to the small model.
///
/// Segmentation is one pass over the request's difficulties: O(output tokens).
public struct SplitReasonPolicy: RegisteredPolicy {
    public var name: String { "splitreason" }
    public var offloadThreshold: Double
    public var minSegmentTokens: Int
    public var maxSegmentTokens: Int
    public var mode: ExecutionMode
    public var chunkTokens: Int
    /// Tokens the small model decodes, and does not output, before each offloaded segment: 1
    /// models SplitReason's `<bigmodel>` trigger token, or a live threshold check that drops the
    /// crossing token (`handoff validate`); 0 assumes the hand-off decision is free.
    public var triggerTokens: Int = 0
    /// A fitted closed-loop model (`closed_loop: FILE`, written by `handoff closed-loop`): the
    /// simulation then runs the live trajectory the model predicts from the trace, not the trace
    /// itself (docs/closed-loop.md). Sequential mode only.
    public var closedLoopFile: String?
    public var closedLoop: ClosedLoopModel?
    public var roles: [String] { ["small", "large"] }

    public init(
        offloadThreshold: Double, minSegmentTokens: Int = 1, maxSegmentTokens: Int = 1 << 30,
        mode: ExecutionMode = .sequential, chunkTokens: Int = 256
    ) {
        self.offloadThreshold = offloadThreshold
        self.minSegmentTokens = minSegmentTokens
        self.maxSegmentTokens = maxSegmentTokens
        self.mode = mode
        self.chunkTokens = chunkTokens
    }

    init(_ r: ConfigReader) throws {
        offloadThreshold = try r.double("offload_threshold", default: 0.7, min: 0, max: 1)
        minSegmentTokens = try r.int("min_segment_tokens", default: 1, min: 1)
        maxSegmentTokens = try r.int("max_segment_tokens", default: 4096, min: 1)
        if maxSegmentTokens < minSegmentTokens {
            throw r.error("must be ≥ min_segment_tokens (\(minSegmentTokens))", key: "max_segment_tokens")
        }
        mode = ExecutionMode(
            rawValue: try r.string("mode", default: "sequential", oneOf: ExecutionMode.allCases.map(\.rawValue)))!
        chunkTokens = try r.int("chunk_tokens", default: 256, min: 1)
        triggerTokens = try r.int("trigger_tokens", default: 0, min: 0, max: 16)
        closedLoopFile = try r.optionalString("closed_loop")
        if closedLoopFile != nil && mode != .sequential {
            throw r.error(
                "a closed-loop model describes a live sequential run; set mode: sequential or drop closed_loop",
                key: "closed_loop")
        }
    }

    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        let range = trace.tokenRange(r)
        let d = trace.difficulty
        let t = Float(offloadThreshold)
        var i = range.lowerBound
        while i < range.upperBound {
            guard let hard = d.firstIndex(in: i..<range.upperBound, above: t) else {
                segments.append(.decode(role: 0, tokens: range.upperBound - i))
                break
            }
            if hard > i { segments.append(.decode(role: 0, tokens: hard - i)) }
            if triggerTokens > 0 { segments.append(.draft(role: 0, tokens: triggerTokens)) }
            let minEnd = min(range.upperBound, hard + minSegmentTokens)
            let maxEnd = min(range.upperBound, hard + maxSegmentTokens)
            let end = minEnd >= maxEnd ? maxEnd : (d.firstIndex(in: minEnd..<maxEnd, atOrBelow: t) ?? maxEnd)
            segments.append(.decode(role: 1, tokens: end - hard))
            i = end
        }
    }

    /// The policy that replays a live stream (`validate`, closed-loop models): segments of exactly
    /// the live segment length (`min_segment_tokens`), each after one dropped trigger token, over
    /// streams whose large tokens carry difficulty 1 and kept small tokens difficulty ≤ τ.
    public var liveReplay: SplitReasonPolicy {
        var replay = SplitReasonPolicy(
            offloadThreshold: offloadThreshold, minSegmentTokens: minSegmentTokens,
            maxSegmentTokens: minSegmentTokens, mode: .sequential, chunkTokens: chunkTokens)
        replay.triggerTokens = 1
        return replay
    }

    public var execution: Execution { mode == .pipelined ? .pipelined(chunkTokens: chunkTokens) : .sequential }

    /// The plan is the same in either mode and at any chunk size: those fields stay out of its key.
    public var planParameters: [(String, JSONValue)] {
        parameters.filter { $0.0 != "mode" && $0.0 != "chunk_tokens" }
    }

    /// Loads the closed-loop model `closed_loop` names.
    public mutating func resolve(_ r: ConfigReader, tiers: [TierSpec], baseDir: String) throws {
        if let f = closedLoopFile {
            closedLoop = try ClosedLoopModel.load(path: try r.existingPath("closed_loop", f, baseDir: baseDir))
        }
    }

    public var crossing: CrossingRule? {
        var plain = self
        plain.closedLoop = nil
        plain.closedLoopFile = nil
        return CrossingRule(
            threshold: offloadThreshold, segmentTokens: minSegmentTokens, model: closedLoop, modelFile: closedLoopFile,
            replay: liveReplay, traceOnly: plain)
    }

    /// Live: the small model streams until a token's difficulty exceeds the threshold; that token
    /// is dropped and the large model writes `min_segment_tokens` from there; then the small model
    /// resumes. Sequential mode only.
    public func live() throws -> (any LiveExecution)? {
        guard mode == .sequential else {
            throw HandoffError.input(
                "validate runs splitreason in sequential mode only; set policy.mode=sequential", field: "policy.mode")
        }
        return Live(threshold: offloadThreshold, segment: minSegmentTokens, replay: liveReplay)
    }

    struct Live: LiveExecution {
        let threshold: Double
        let segment: Int
        let replay: any Policy
        var roles: [Int] { [0, 1] }

        func next(after calls: [LiveCallResult], produced: Int, budget: Int) -> LiveCall? {
            guard produced < budget else { return nil }
            guard let last = calls.last else { return small(budget: budget - produced) }
            if let hard = last.crossed {
                return LiveCall(
                    role: 1, maxTokens: min(segment, budget - produced), measuresDifficulty: false,
                    firstDifficulty: hard, offloaded: true)
            }
            // The small model finished (end of sequence or budget), or the large model's segment
            // came back empty or ended the answer.
            guard last.call.role == 1, last.tokens > 0, !last.finished else { return nil }
            return small(budget: budget - produced)
        }

        func small(budget: Int) -> LiveCall {
            LiveCall(role: 0, maxTokens: budget, stopAbove: threshold, measuresDifficulty: true, offloaded: false)
        }

        /// To the large model and back for every large call, except the return after a stream
        /// that ends on the large model: the last call that produced tokens was a large one.
        func handoffs(_ calls: [LiveCallResult]) -> Int {
            let endedOnLarge = calls.last(where: { $0.tokens > 0 })?.call.role == 1
            return 2 * calls.filter { $0.call.role == 1 }.count - (endedOnLarge ? 1 : 0)
        }
    }

    public var parameters: [(String, JSONValue)] {
        [
            ("name", .string(name)), ("offload_threshold", .number(offloadThreshold)),
            ("min_segment_tokens", .number(Double(minSegmentTokens))),
            ("max_segment_tokens", .number(Double(maxSegmentTokens))), ("mode", .string(mode.rawValue)),
            ("chunk_tokens", .number(Double(chunkTokens))),
            ("trigger_tokens", .number(Double(triggerTokens)))
        ] + (closedLoopFile.map { [("closed_loop", .string($0))] } ?? [])
    }
}

extension SplitReasonPolicy {
    public static let policyNames = ["splitreason"]
    public static let fields = [
        "offload_threshold", "min_segment_tokens", "max_segment_tokens", "mode", "chunk_tokens", "trigger_tokens",
        "closed_loop"
    ]
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy { try SplitReasonPolicy(r) }
}
