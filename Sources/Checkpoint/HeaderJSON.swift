/// A parsed JSON value that keeps object keys in the order they were written.
///
/// safetensors headers are JSON objects whose key order is the file's tensor order; Foundation's
/// `JSONSerialization` forgets it, so the header is parsed here. The parser works on the bytes
/// already in memory, bounds its recursion depth, and reports the byte offset of the first error.
enum HeaderJSON {
    /// Members in the order written; keys are unique (the parser rejects duplicates).
    case object(keys: [String], values: [HeaderJSON])
    case array([HeaderJSON])
    case string(String)
    /// An integer that fits in `Int`.
    case integer(Int)
    /// Any other number (fraction, exponent, out of `Int` range), as written.
    case number(String)
    case bool(Bool)
    case null

    /// A short name of the value's kind, for messages.
    var kind: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .integer, .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

struct HeaderJSONParser {
    private let bytes: [UInt8]
    private var i = 0
    private var depth = 0
    /// Deeper nesting than any real header; bounds the recursion so hostile input cannot overflow the stack.
    static let maxDepth = 64

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// Parses one JSON value followed only by whitespace (safetensors pads headers with spaces).
    static func parse(_ bytes: [UInt8]) throws(SafetensorsError) -> HeaderJSON {
        var p = HeaderJSONParser(bytes)
        p.skipWhitespace()
        let v = try p.value()
        p.skipWhitespace()
        if p.i != bytes.count { throw p.fail("unexpected '\(p.printable(bytes[p.i]))' after the end of the header object") }
        return v
    }

    private func fail(_ reason: String) -> SafetensorsError { .invalidJSON(offset: i, reason: reason) }

    private func printable(_ b: UInt8) -> String {
        (0x20..<0x7F).contains(b) ? String(UnicodeScalar(b)) : "\\x" + String(b, radix: 16)
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value() throws(SafetensorsError) -> HeaderJSON {
        guard i < bytes.count else { throw fail("unexpected end of header") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected '\(printable(bytes[i]))'")
        }
    }

    private mutating func literal(_ word: String) throws(SafetensorsError) {
        let w = Array(word.utf8)
        let n = w.count
        guard i + n <= bytes.count, bytes[i..<(i + n)].elementsEqual(w) else { throw fail("invalid literal") }
        i += n
    }

    private mutating func enter() throws(SafetensorsError) {
        depth += 1
        if depth > Self.maxDepth { throw fail("nesting deeper than \(Self.maxDepth) levels") }
    }

    private mutating func object() throws(SafetensorsError) -> HeaderJSON {
        try enter()
        defer { depth -= 1 }
        i += 1  // '{'
        var keys: [String] = []
        var values: [HeaderJSON] = []
        var seen = Set<String>()
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(keys: keys, values: values) }
        while true {
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of header inside an object") }
            guard bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key, found '\(printable(bytes[i]))'") }
            let key = try string()
            if !seen.insert(key).inserted { throw SafetensorsError.duplicateKey(key) }
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(key)\"") }
            i += 1
            skipWhitespace()
            let v = try value()
            keys.append(key)
            values.append(v)
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of header inside an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(keys: keys, values: values) }
            throw fail("expected ',' or '}' in an object, found '\(printable(bytes[i]))'")
        }
    }

    private mutating func array() throws(SafetensorsError) -> HeaderJSON {
        try enter()
        defer { depth -= 1 }
        i += 1  // '['
        var items: [HeaderJSON] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try value())
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of header inside an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("expected ',' or ']' in an array, found '\(printable(bytes[i]))'")
        }
    }

    private mutating func hex4() throws(SafetensorsError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private mutating func string() throws(SafetensorsError) -> String {
        let start = i
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { i = start; throw fail("unterminated string") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw fail("control character \\x\(String(c, radix: 16)) inside a string") }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate in \\u escape")
                }
                out.append(contentsOf: Array(String(Character(UnicodeScalar(scalar)!)).utf8))
            default:
                i -= 1
                throw fail("invalid escape '\\\(printable(e))'")
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            i = start
            throw fail("string is not valid UTF-8")
        }
        return s
    }

    private mutating func number() throws(SafetensorsError) -> HeaderJSON {
        let start = i
        var integral = true
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        func isDigit(_ j: Int) -> Bool { j < bytes.count && (0x30...0x39).contains(bytes[j]) }
        guard isDigit(i) else { throw fail("invalid number") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if isDigit(i) { throw fail("leading zero in a number") }
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard isDigit(i) else { throw fail("invalid number: digits expected after '.'") }
            while isDigit(i) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw fail("invalid number: digits expected in the exponent") }
            while isDigit(i) { i += 1 }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let v = Int(text) { return .integer(v) }
        return .number(text)
    }
}
