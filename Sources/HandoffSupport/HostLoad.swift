import Foundation

/// How busy the host was between two readings of `/proc/stat` (Linux): the share of CPU time that
/// was busy (user, nice, system, irq, softirq), and the share stolen by the hypervisor. Reports of
/// real runs carry it, so a reader can tell a noisy machine from a wrong model. Nil off Linux.
public struct HostLoad: Sendable {
    public var busy: Double
    public var steal: Double
    public var seconds: Double
    public var loadAverage: String

    public struct Reading: Sendable {
        var fields: [Double]
        var at: Double
        public static func now() -> Reading? {
            guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
            else { return nil }
            let f = line.split(separator: " ").dropFirst().compactMap { Double($0) }
            guard f.count >= 8 else { return nil }
            return Reading(fields: f, at: Monotonic.now())
        }
    }

    public static func between(_ a: Reading?, _ b: Reading?) -> HostLoad? {
        guard let a, let b else { return nil }
        let d = zip(b.fields, a.fields).map { $0 - $1 }
        let total = d.prefix(8).reduce(0, +)
        guard total > 0 else { return nil }
        let busy = d[0] + d[1] + d[2] + d[5] + d[6]
        let load =
            (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(
                separator: " ") ?? ""
        return HostLoad(busy: busy / total, steal: d[7] / total, seconds: b.at - a.at, loadAverage: load)
    }

    public var summary: String {
        String(
            format: "over %.0f s of runs: CPU busy %.0f%%, stolen by the hypervisor %.1f%%; load average at the end %@",
            seconds, busy * 100, steal * 100, loadAverage)
    }
}
