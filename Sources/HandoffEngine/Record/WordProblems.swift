import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// Multi-step word problems with exact integer answers: prices and change, units (metres and
/// centimetres), equal shares with remainders, time differences across hours, and two or three
/// operations on counts. Harder than
/// `PromptSet.arithmetic`, so a 0.5B model is clearly below a 1.5B one (docs/engine.md has the
/// measured scores).
///
/// Deterministic in `seed` (GSL MT19937 stream "word-problems"). Prompt k is held out when
/// k mod 4 = 3, so a quarter of any prefix of the set is held out (`Prompt.heldOut`).
public enum WordProblems {
    public static func generate(count: Int, seed: UInt64) -> [Prompt] {
        let rng = RandomStream(seed: seed, name: "word-problems")
        var out: [Prompt] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            let (text, answer) = make(kind: rng.int(below: 5), rng)
            var p = Prompt(id: "wp-\(i)", text: text + " Answer with the number.", answer: String(answer))
            p.heldOut = i % 4 == 3
            out.append(p)
        }
        return out
    }

    static let names = [
        "Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kemal", "Lena", "Mia", "Noah"
    ]
    static let goods = [
        ("pencils", "pencil"), ("notebooks", "notebook"), ("apples", "apple"), ("tickets", "ticket"),
        ("candles", "candle")
    ]

    static let things = ["marbles", "stickers", "shells", "cards", "coins", "beads"]

    static func make(kind: Int, _ rng: RandomStream) -> (String, Int) {
        func pick<T>(_ a: [T]) -> T { a[rng.int(below: a.count)] }
        func r(_ lo: Int, _ hi: Int) -> Int { lo + rng.int(below: hi - lo + 1) }
        let who = pick(names)
        switch kind {
        case 0:  // price and quantity, change from a note
            let (many, one) = pick(goods)
            let n = r(2, 6)
            let price = r(2, 8)
            let note = n * price < 20 ? 20 : 50
            return (
                "\(who) buys \(n) \(many) at \(price) dollars per \(one) and pays with a \(note)-dollar note. How many dollars of change does \(who) get?",
                note - n * price
            )
        case 1:  // equal shares: what is left over, then more arrive
            let kids = r(3, 6)
            let total = r(20, 60)
            let more = r(2, 12)
            return (
                "\(total) cookies are shared equally among \(kids) children, each getting as many as possible. The cookies left over go back in the jar, which was empty, and then \(more) more cookies are put in the jar. How many cookies are in the jar?",
                total % kids + more
            )
        case 2:  // time difference within a few hours, in minutes
            let h1 = r(7, 11)
            let m1 = r(0, 11) * 5
            let dur = r(35, 150)
            let end = h1 * 60 + m1 + dur
            func clock(_ t: Int) -> String { "\(t / 60):" + (t % 60 < 10 ? "0" : "") + "\(t % 60)" }
            return (
                "A train leaves at \(clock(h1 * 60 + m1)) and arrives at \(clock(end)) the same morning. How many minutes does the trip take?",
                dur
            )
        case 3:  // metres and centimetres, one piece cut off
            let m = r(1, 4)
            let cm = r(5, 95)
            let piece = r(10, 90)
            return (
                "A ribbon is \(m) metres and \(cm) centimetres long. \(who) cuts off \(piece) centimetres. How many centimetres of ribbon are left?",
                m * 100 + cm - piece
            )
        default:  // two or three operations on counts
            let what = pick(things)
            var value = r(10, 40)
            var story = "\(who) has \(value) \(what)."
            for _ in 0..<r(2, 3) {
                switch rng.int(below: 3) {
                case 0:
                    let k = r(3, 25)
                    story += " \(who) finds \(k) more."
                    value += k
                case 1 where value > 4:
                    let k = r(1, value / 2)
                    story += " \(who) gives \(k) to a friend."
                    value -= k
                default:
                    let k = r(2, 3)
                    story += " Then \(who)'s collection grows to \(k) times as many."
                    value *= k
                }
            }
            return (story + " How many \(what) does \(who) have now?", value)
        }
    }
}
