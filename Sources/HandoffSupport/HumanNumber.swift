import Foundation

/// Numbers as a person reads them: four significant digits and never scientific notation in the
/// range a planner meets (1e-4 to 1e12). JSON keeps full precision (`JSONWriter.number`); tables,
/// reports and `report.md` use this.
public enum HumanNumber {
    /// `x` to `digits` significant digits, plain decimal: 14466.3 → "14470", 0.45213 → "0.4521",
    /// 0.000123456 → "0.0001235". A whole number is printed whole (19366 requests stay 19366).
    /// Outside [1e-4, 1e12) it falls back to `%g`.
    public static func format(_ x: Double, digits: Int = 4) -> String {
        guard x.isFinite else { return x.isNaN ? "—" : (x > 0 ? "∞" : "−∞") }
        if x == 0 { return "0" }
        if x == x.rounded(), abs(x) < 1e12 { return String(Int64(x)) }
        let a = abs(x)
        guard a >= 1e-4, a < 1e12 else { return String(format: "%.\(digits)g", x) }
        let magnitude = Int(floor(log10(a)))
        let decimals = max(0, digits - 1 - magnitude)
        if decimals == 0 {
            // Round to `digits` significant digits: 14466.3 → 14470.
            let unit = pow(10, Double(magnitude - digits + 1))
            return String(format: "%.0f", (x / unit).rounded() * unit)
        }
        var s = String(format: "%.\(decimals)f", x)
        // Trailing zeros after the point say nothing: 2.000 → 2, 0.4500 → 0.45.
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s == "-0" ? "0" : s
    }

    /// `x` rounded down to `digits` significant digits (a lower bound a value still meets:
    /// 0.3427 → "0.342", never "0.343").
    public static func roundedDown(_ x: Double, digits: Int = 3) -> String {
        guard x.isFinite, x > 0 else { return format(x, digits: digits) }
        let unit = pow(10, Double(Int(Foundation.floor(log10(x))) - digits + 1))
        return format(Foundation.floor(x / unit) * unit, digits: digits)
    }

    /// Optional form: "—" for nil.
    public static func format(_ x: Double?, digits: Int = 4) -> String { x.map { format($0, digits: digits) } ?? "—" }
}
