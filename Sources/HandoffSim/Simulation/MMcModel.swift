import Foundation
import HandoffModel
import HandoffSupport

/// The M/M/c queue on Handoff's event core: Poisson arrivals, exponential service, c servers, FIFO.
///
/// It is the same model, with the same draw order and the same GSL generator, as
/// `../shared/bench/mmc_reference.c` (variant `array-gsl`), so both print the same mean wait for the
/// same seed; `handoff bench mmc` compares their speed and the tests compare the mean wait with
/// Erlang C and check Little's law.
public struct MMcModel: Sendable {
    public var servers: Int
    public var customers: Int
    /// Arrival rate λ (per unit time); the reference uses 0.9·c.
    public var arrivalRate: Double
    /// Mean service time 1/μ.
    public var meanService: Double
    public var seed: UInt64

    public init(servers: Int, customers: Int, arrivalRate: Double? = nil, meanService: Double = 1, seed: UInt64 = 12345)
    {
        self.servers = servers
        self.customers = customers
        self.arrivalRate = arrivalRate ?? 0.9 * Double(servers)
        self.meanService = meanService
        self.seed = seed
    }

    public struct Result: Sendable {
        public var events: Int
        /// Mean time in queue (before service) over all customers.
        public var meanWait: Double
        /// Mean time in system (wait + service).
        public var meanSojourn: Double
        /// Time-average number in system, ∫N(t)dt / T.
        public var meanInSystem: Double
        /// Time of the last event.
        public var endTime: Double
    }

    /// Runs the model. O(customers · log c) time.
    public func run() -> Result {
        let rng = RandomStream(seed: seed)
        let arrMean = 1.0 / arrivalRate
        var queue = EventQueue(capacity: 2 * servers + 16)
        var waiting = [Double](repeating: 0, count: customers)
        var arrivalTime = [Double](repeating: 0, count: customers)
        var head = 0
        var tail = 0
        var busy = 0
        var arrived = 0
        var events = 0
        var sumWait = 0.0
        var sumSojourn = 0.0
        var area = 0.0
        var lastT = 0.0
        var inSystem = 0
        var waitingID = [Int32](repeating: 0, count: customers)
        queue.push(Event(time: rng.exponential(mean: arrMean), kind: 0, target: 0, argument: 0))
        while let e = queue.pop() {
            events += 1
            let now = e.time
            area += Double(inSystem) * (now - lastT)
            lastT = now
            if e.kind == 0 {
                let id = Int(e.argument)
                arrivalTime[id] = now
                arrived += 1
                inSystem += 1
                if arrived < customers {
                    queue.push(
                        Event(time: now + rng.exponential(mean: arrMean), kind: 0, target: 0, argument: UInt32(arrived))
                    )
                }
                if busy < servers {
                    busy += 1
                    queue.push(
                        Event(time: now + rng.exponential(mean: meanService), kind: 1, target: 0, argument: UInt32(id)))
                } else {
                    waiting[tail] = now
                    waitingID[tail] = Int32(id)
                    tail += 1
                }
            } else {
                inSystem -= 1
                sumSojourn += now - arrivalTime[Int(e.argument)]
                if head < tail {
                    sumWait += now - waiting[head]
                    let id = waitingID[head]
                    head += 1
                    queue.push(
                        Event(time: now + rng.exponential(mean: meanService), kind: 1, target: 0, argument: UInt32(id)))
                } else {
                    busy -= 1
                }
            }
        }
        let n = Double(customers)
        return Result(
            events: events, meanWait: sumWait / n, meanSojourn: sumSojourn / n,
            meanInSystem: area / lastT, endTime: lastT)
    }
}

/// Closed forms for M/M/c queues.
public enum ErlangC {
    /// Probability that an arrival waits: Erlang C with offered load a = λ/μ and c servers.
    public static func probabilityOfWaiting(servers c: Int, offeredLoad a: Double) -> Double {
        precondition(a < Double(c), "unstable queue: load \(a) ≥ servers \(c)")
        // Erlang B by its stable recursion, then C = B / (1 − ρ(1 − B)).
        var b = 1.0
        for k in 1...c { b = a * b / (Double(k) + a * b) }
        let rho = a / Double(c)
        return b / (1 - rho * (1 - b))
    }

    /// Mean wait in queue W_q = C(c, a) / (cμ − λ).
    public static func meanWait(servers c: Int, arrivalRate lambda: Double, serviceRate mu: Double) -> Double {
        let pw = probabilityOfWaiting(servers: c, offeredLoad: lambda / mu)
        return pw / (Double(c) * mu - lambda)
    }
}
