import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

final class QueueingTests: XCTestCase {
    /// M/M/c, c = 8, ρ = 0.7, 10⁶ customers per run: the mean wait agrees with Erlang C.
    /// One run's estimate scatters by about ±2% here (measured over seeds 1…5: −0.5%, +1.7%, +0.7%,
    /// +1.9%, −2.5%), so the check uses ten independent runs: their mean within 1% of Erlang C and
    /// within three standard errors of it.
    func testMMcMeanWaitMatchesErlangC() {
        let (c, rho) = (8, 0.7)
        let lambda = rho * Double(c)
        let w = ErlangC.meanWait(servers: c, arrivalRate: lambda, serviceRate: 1)
        let runs = (1...10).map {
            MMcModel(servers: c, customers: 1_000_000, arrivalRate: lambda, seed: UInt64($0)).run().meanWait
        }
        let mean = runs.reduce(0, +) / 10
        let se = (runs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 9).squareRoot() / 10.0.squareRoot()
        XCTAssertEqual(mean, w, accuracy: 0.01 * w)
        XCTAssertEqual(mean, w, accuracy: 3 * se)
    }

    /// Little's law L = λW holds exactly over a run that starts and ends empty.
    func testLittlesLaw() {
        let r = MMcModel(servers: 3, customers: 200_000, arrivalRate: 2.4, seed: 9).run()
        let lambda = 200_000 / r.endTime
        XCTAssertEqual(r.meanInSystem, lambda * r.meanSojourn, accuracy: 1e-9 * r.meanInSystem)
    }

    /// Erlang C against a value computed by hand: c = 2, a = 1 → C = 1/3, W_q = 1/3 for μ = 1.
    func testErlangCClosedForm() {
        XCTAssertEqual(ErlangC.probabilityOfWaiting(servers: 2, offeredLoad: 1), 1.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(ErlangC.meanWait(servers: 2, arrivalRate: 1, serviceRate: 1), 1.0 / 3, accuracy: 1e-12)
    }

    /// The same seed as ../shared/bench/mmc_reference.c (array-gsl) gives its mean wait exactly.
    func testMatchesCReferenceDrawForDraw() {
        let r = MMcModel(servers: 8, customers: 100_000).run()
        XCTAssertEqual(r.events, 200_000)
        // `./mmc_reference array-gsl 8 100000` prints meanWait=0.7951720328361848.
        XCTAssertEqual(r.meanWait, 0.7951720328361848)
    }

    func testEventQueueOrders() {
        var q = EventQueue(capacity: 2)
        let rng = RandomStream(seed: 3)
        var times: [Double] = []
        for k in 0..<5000 {
            let t = rng.uniform()
            times.append(t)
            q.push(Event(time: t, kind: 1, target: k % 7, argument: UInt32(k)))
        }
        var out: [Double] = []
        while let e = q.pop() {
            out.append(e.time)
            XCTAssertEqual(e.kind, 1)
        }
        XCTAssertEqual(out, times.sorted())
    }

    /// Ties leave first in, first out (SimPy's (time, priority, id) order with one priority): with
    /// 5,000 events over 7 distinct times, pushed in random order and popped while more are pushed,
    /// each time's events come out in the order they went in.
    func testEqualTimesLeaveInPushOrder() {
        var q = EventQueue(capacity: 2)
        let rng = RandomStream(seed: 11)
        var pushedOrder: [(time: Double, k: Int)] = []
        var out: [(time: Double, k: Int)] = []
        for k in 0..<5000 {
            let t = Double(rng.int(below: 7))
            pushedOrder.append((t, k))
            q.push(Event(time: t, kind: 2, target: 0, argument: UInt32(k)))
            if k % 3 == 2, let e = q.pop() { out.append((e.time, Int(e.argument))) }
        }
        while let e = q.pop() { out.append((e.time, Int(e.argument))) }
        XCTAssertEqual(out.count, 5000)
        // Among events of one time, the popped order is the pushed order.
        for t in 0..<7 {
            let popped = out.filter { $0.time == Double(t) }.map(\.k)
            let pushed = pushedOrder.filter { $0.time == Double(t) }.map(\.k)
            XCTAssertEqual(popped, pushed, "time \(t)")
        }
        // With no pops in between, the whole output is sorted by (time, push order).
        var r = EventQueue(capacity: 2)
        for (t, k) in pushedOrder { r.push(Event(time: t, kind: 2, target: 0, argument: UInt32(k))) }
        var all: [Int] = []
        while let e = r.pop() { all.append(Int(e.argument)) }
        XCTAssertEqual(all, pushedOrder.sorted { ($0.time, $0.k) < ($1.time, $1.k) }.map(\.k))
    }
}
