import Foundation
import HandoffSupport

/// What a trace knows of one request, apart from its per-token difficulties.
public struct TraceRequest: Sendable, Equatable {
    public var id: String
    /// Tokens of the prompt (the context before the first generated token).
    public var promptTokens: Int
    /// Arrival time in seconds from the start of the trace, when the trace was recorded with one
    /// (used by `traffic.arrival: replay`).
    public var arrivalS: Double?
    /// Outcome labels: was the small (large) model alone correct on this request?
    public var smallCorrect: Bool?
    public var largeCorrect: Bool?
    /// Tokens the large model alone generated for this prompt (greedy, ending naturally), when the
    /// trace was labelled with it (`record --label-server`).
    public var largeOutputTokens: Int?
    /// Kept out of every fit: the split closed-loop models are checked on.
    public var heldOut = false
    /// Where the difficulty profile and outcome labels come from (`difficulty_source`).
    public var profile: DifficultySource = .recorded
    /// Ids of the prompt's blocks (`trace.prefix_block_tokens` tokens each), equal ids for equal
    /// prefixes (Mooncake's `hash_ids`): what a prefix cache across requests can share.
    public var prefixBlocks: [Int]?
    /// Prompt text, when the trace came from `record` or an import.
    public var prompt: String?
    /// Reference answer, when known.
    public var answer: String?
    /// What `record` or `validate` measured on a real engine for this request (per-token times,
    /// the server's timings, the generated text), kept verbatim.
    public var measured: JSONValue?

    public init(
        id: String, promptTokens: Int, arrivalS: Double? = nil, smallCorrect: Bool? = nil,
        largeCorrect: Bool? = nil, prompt: String? = nil, answer: String? = nil, measured: JSONValue? = nil
    ) {
        self.id = id
        self.promptTokens = promptTokens
        self.arrivalS = arrivalS
        self.smallCorrect = smallCorrect
        self.largeCorrect = largeCorrect
        self.prompt = prompt
        self.answer = answer
        self.measured = measured
    }
}

/// Where a request's difficulty profile and outcome labels come from: `recorded` from a real
/// model (`record`, `--difficulty-from`, a SplitReason annotation, a file without the field),
/// `synthetic` invented by the generator's presets, `none` absent (an imported request log:
/// lengths and arrivals only, difficulties 0, no labels).
public enum DifficultySource: String, Sendable, Comparable {
    case none, synthetic, recorded
    static let order: [DifficultySource] = [.none, .synthetic, .recorded]
    public static func < (a: Self, b: Self) -> Bool { order.firstIndex(of: a)! < order.firstIndex(of: b)! }
}

/// A token-difficulty trace: requests, and for each request the difficulty of every token the
/// small model generated, plus optional reasoning-step boundaries.
///
/// Token `t` of request `r` is `difficulty[offsets[r] + t]`; request `r` generated
/// `offsets[r+1] − offsets[r]` tokens. Step boundaries are token positions within a request
/// (a step ends just before each listed position), `steps[stepOffsets[r]..<stepOffsets[r+1]]`.
///
/// A trace may also record, for every step, `candidates` = K candidate steps as SPECS scores them
/// (arXiv 2506.15733): `stepScores` holds each draft candidate's score (mean target log-prob −
/// mean draft log-prob + λ·reward, compared with `rejection_threshold`), `stepRewards` each
/// target-generated candidate's process reward (compared with `switch_back_threshold`). Both are
/// row-major, one row of K per step in the order of `steps`: step j's candidate c is at
/// `j · K + c`. Either may be empty.
public final class Trace: @unchecked Sendable {
    public let requests: [TraceRequest]
    public let offsets: [Int]
    public let difficulty: DifficultyColumn
    public let steps: [Int32]
    public let stepOffsets: [Int]
    /// Candidates recorded per step (K), 0 when the trace has no per-candidate records.
    public let candidates: Int
    public let stepScores: [Float]
    public let stepRewards: [Float]
    /// Results derived from this trace alone and a key (e.g. plans and accuracy predictions by
    /// policy), so variants of a sweep that differ only in serving fields compute them once. The 16
    /// newest are kept: a sweep's neighbouring configurations share a policy, and a plan of a long
    /// trace can take tens of MB (1,000 requests × 600 segments: 14 MB).
    private let memo = TypedMemo(capacity: 16)

    /// The value memoised under `key`, made by `make` the first time. Values must be immutable.
    public func memoised<K: MemoKey>(_ key: K, _ make: () -> K.Value) -> K.Value { memo.get(key, make: make) }
    /// The keys memoised so far, oldest first.
    package var memoisedKeys: [AnyHashable] { memo.keys }

    public init(
        requests: [TraceRequest], offsets: [Int], difficulty: DifficultyColumn,
        steps: [Int32] = [], stepOffsets: [Int]? = nil, candidates: Int = 0, stepScores: [Float] = [],
        stepRewards: [Float] = []
    ) {
        precondition(offsets.count == requests.count + 1 && offsets.last == difficulty.count)
        precondition(stepScores.isEmpty || stepScores.count == steps.count * candidates)
        precondition(stepRewards.isEmpty || stepRewards.count == steps.count * candidates)
        self.candidates = candidates
        self.stepScores = stepScores
        self.stepRewards = stepRewards
        self.requests = requests
        self.offsets = offsets
        self.difficulty = difficulty
        self.steps = steps
        self.stepOffsets = stepOffsets ?? [Int](repeating: 0, count: requests.count + 1)
    }

    public var count: Int { requests.count }
    /// The weakest provenance of any request: one invented profile makes the trace's figures
    /// synthetic, one absent profile makes them unknown.
    public var difficultySource: DifficultySource {
        memoised(DifficultySourceKey()) { requests.lazy.map(\.profile).min() ?? .recorded }
    }
    public var totalOutputTokens: Int { offsets.last ?? 0 }
    public var hasSteps: Bool { !steps.isEmpty }

    @inline(__always) public func outputTokens(_ r: Int) -> Int { offsets[r + 1] - offsets[r] }
    @inline(__always) public func tokenRange(_ r: Int) -> Range<Int> { offsets[r]..<offsets[r + 1] }
    public func stepBoundaries(_ r: Int) -> ArraySlice<Int32> { steps[stepOffsets[r]..<stepOffsets[r + 1]] }
    /// Recorded score of draft candidate `c` of step `j` (a global step index) of the trace.
    @inline(__always) public func stepScore(step j: Int, candidate c: Int) -> Double {
        Double(stepScores[j * candidates + c])
    }
    /// Recorded reward of target candidate `c` of step `j`.
    @inline(__always) public func stepReward(step j: Int, candidate c: Int) -> Double {
        Double(stepRewards[j * candidates + c])
    }
}

/// The memo key of `Trace.difficultySource`.
struct DifficultySourceKey: MemoKey {
    typealias Value = DifficultySource
}

/// The one way to assemble a trace from its requests and their difficulties, request by request
/// (the readers build theirs from their own columns).
public struct TraceBuilder {
    public private(set) var requests: [TraceRequest] = []
    private var offsets = [0]
    private var values: [Float] = []

    public init() {}

    /// Appends `q` with `difficulty`, one value per output token.
    public mutating func append<S: Sequence<Float>>(_ q: TraceRequest, difficulty: S) {
        requests.append(q)
        values.append(contentsOf: difficulty)
        offsets.append(values.count)
    }

    /// Appends request `r` of `trace`, its difficulties copied; `edit` may change the request.
    public mutating func append(from trace: Trace, request r: Int, _ edit: (inout TraceRequest) -> Void = { _ in }) {
        var q = trace.requests[r]
        edit(&q)
        append(q, difficulty: trace.tokenRange(r).lazy.map { trace.difficulty[$0] })
    }

    public func build() -> Trace {
        Trace(requests: requests, offsets: offsets, difficulty: DifficultyColumn(values))
    }
}

extension Trace {
    /// The requests at `indices`, in that order, with their difficulties; `edit` may change each.
    public func subset<S: Sequence<Int>>(_ indices: S, _ edit: (Int, inout TraceRequest) -> Void = { _, _ in }) -> Trace
    {
        var b = TraceBuilder()
        for (k, r) in indices.enumerated() { b.append(from: self, request: r) { edit(k, &$0) } }
        return b.build()
    }
}
