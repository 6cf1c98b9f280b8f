import CZlibLoader
import Foundation

/// A decoded 8-bit RGB or RGBA PNG (what Chromium's screenshots are), enough to look at pixels.
struct PNGImage {
    var width: Int
    var height: Int
    /// RGB triples, row-major.
    var rgb: [UInt8]

    struct DecodeError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ data: [UInt8]) throws {
        guard data.count > 8, data[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw DecodeError(description: "not a PNG") }
        var i = 8
        var idat: [UInt8] = []
        var w = 0, h = 0, colorType = 0
        func be32(_ at: Int) -> Int { Int(data[at]) << 24 | Int(data[at + 1]) << 16 | Int(data[at + 2]) << 8 | Int(data[at + 3]) }
        while i + 8 <= data.count {
            let length = be32(i)
            let type = String(decoding: data[(i + 4)..<(i + 8)], as: UTF8.self)
            guard i + 12 + length <= data.count else { throw DecodeError(description: "truncated chunk \(type)") }
            let body = Array(data[(i + 8)..<(i + 8 + length)])
            switch type {
            case "IHDR":
                w = be32(i + 8); h = be32(i + 12)
                guard body[8] == 8, body[12] == 0 else { throw DecodeError(description: "only 8-bit non-interlaced PNGs are handled") }
                colorType = Int(body[9])
                guard colorType == 2 || colorType == 6 else { throw DecodeError(description: "colour type \(colorType) not handled") }
            case "IDAT": idat += body
            default: break
            }
            i += 12 + length
        }
        let channels = colorType == 6 ? 4 : 3
        let stride = w * channels
        var raw = [UInt8](repeating: 0, count: (stride + 1) * h)
        // zlib's uncompress: one inflate of the zlib stream (windowBits 15) into the exact buffer.
        var stream = swiftnn_z_stream()
        guard swiftnn_inflate_init2(&stream, 15) == SWIFTNN_Z_OK else { throw DecodeError(description: "zlib unavailable") }
        defer { swiftnn_inflate_end(&stream) }
        let (rc, rawLength) = raw.withUnsafeMutableBufferPointer { out in
            idat.withUnsafeBufferPointer { input -> (Int32, Int) in
                stream.next_in = input.baseAddress
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                let rc = swiftnn_inflate(&stream, SWIFTNN_Z_FINISH)
                return (rc, out.count - Int(stream.avail_out))
            }
        }
        guard rc == SWIFTNN_Z_STREAM_END, rawLength == raw.count else { throw DecodeError(description: "zlib error \(rc)") }
        // Undo the per-row filters (PNG spec section 9).
        var pixels = [UInt8](repeating: 0, count: stride * h)
        for y in 0..<h {
            let filter = raw[y * (stride + 1)]
            let src = y * (stride + 1) + 1, dst = y * stride
            for x in 0..<stride {
                let a = x >= channels ? Int(pixels[dst + x - channels]) : 0
                let b = y > 0 ? Int(pixels[dst - stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(pixels[dst - stride + x - channels]) : 0
                let v = Int(raw[src + x])
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predicted = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw DecodeError(description: "bad filter \(filter)")
                }
                pixels[dst + x] = UInt8((v + predicted) & 0xFF)
            }
        }
        width = w
        height = h
        if channels == 3 {
            rgb = pixels
        } else {
            rgb = [UInt8](repeating: 0, count: w * h * 3)
            for p in 0..<(w * h) { for k in 0..<3 { rgb[p * 3 + k] = pixels[p * 4 + k] } }
        }
    }

    /// Pixels inside `box` (x, y, width, height) within `tolerance` (per channel) of `hex` (`#rrggbb`).
    func count(color hex: String, in box: (x: Int, y: Int, w: Int, h: Int), tolerance: Int = 24) -> Int {
        let v = Int(hex.dropFirst(), radix: 16)!
        let r = v >> 16, g = (v >> 8) & 0xFF, b = v & 0xFF
        var n = 0
        for y in max(0, box.y)..<min(height, box.y + box.h) {
            for x in max(0, box.x)..<min(width, box.x + box.w) {
                let p = (y * width + x) * 3
                if abs(Int(rgb[p]) - r) <= tolerance && abs(Int(rgb[p + 1]) - g) <= tolerance && abs(Int(rgb[p + 2]) - b) <= tolerance { n += 1 }
            }
        }
        return n
    }
}
