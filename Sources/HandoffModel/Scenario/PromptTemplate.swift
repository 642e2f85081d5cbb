import Foundation
import HandoffSupport

/// How a prompt becomes the text sent to `/v1/completions`.
public enum PromptTemplate: String, Sendable, CaseIterable {
    /// The server's own chat template, via llama.cpp's `/apply-template` (one user message).
    case server
    /// ChatML (`<|im_start|>user … <|im_end|>`), for servers without `/apply-template`.
    case chatml
    /// The prompt text as is.
    case raw
}
