import Foundation
import Testing
import SwiftNN
import TestSupport

/// Issue 12: gzip data is bounded by what it can hold and what its reader needs. The 4-byte length
/// in the trailer is never trusted; concatenated members, NUL padding and garbage behave as in
/// Python's gzip module (torchvision's MNIST reader).
@Suite struct GzipBoundsTests {
    func idx(_ shape: [Int], fill: UInt8 = 7) -> [UInt8] {
        [UInt8](IDXArray(shape: shape, bytes: [UInt8](repeating: fill, count: shape.reduce(1, *))).idxData())
    }

    @Test func membersConcatenateAndNulPaddingIsIgnored() throws {
        let a = Array("hello".utf8), b = Array(" world".utf8)
        let two = gzipCompress(a) + gzipCompress(b)
        #expect(try Gzip.inflate(two) == Data(a + b))
        #expect(try Gzip.inflate(two + Data(repeating: 0, count: 5)) == Data(a + b))
        // An IDX file split over two members reads as one.
        let file = idx([3, 4])
        let split = gzipCompress(Array(file.prefix(10))) + gzipCompress(Array(file.dropFirst(10)))
        #expect(try IDXArray(gzipData: split).bytes == Array(file.dropFirst(12)))
    }

    @Test func trailingGarbageIsAnError() throws {
        let gz = gzipCompress(Array("hello".utf8))
        for garbage: [UInt8] in [Array("garbage".utf8), [0x1f], [0, 0, 1]] {
            guard case .corruptGzip(_, let why)? = dataError({ _ = try Gzip.inflate(gz + Data(garbage), path: "x.gz") }) else {
                Issue.record("\(garbage): expected corruptGzip"); continue
            }
            #expect(why.contains("\(garbage.count) bytes of trailing garbage after the gzip data"), "\(why)")
        }
        // A second member that is not gzip data after all.
        guard case .corruptGzip? = dataError({ _ = try Gzip.inflate(gz + Data([0x1f, 0x8b, 1, 2, 3])) }) else {
            Issue.record("expected corruptGzip for a broken second member"); return
        }
    }

    /// The trailer's length is a hint anyone can forge: a small corrupt file claiming 2 GiB and a
    /// valid file followed by bytes that look like a huge length allocate nothing of the sort.
    @Test func theTrailerLengthIsNotTrusted() throws {
        var gz = [UInt8](gzipCompress(idx([2, 3])))
        gz.replaceSubrange((gz.count - 4)..., with: [0xff, 0xff, 0xff, 0x7f])
        guard case .corruptGzip? = dataError({ _ = try Gzip.inflate(Data(gz)) }) else { Issue.record("forged ISIZE loaded"); return }
        let valid = gzipCompress(idx([4, 5]))
        let padded = valid + Data([0, 0, 0, 0x80])
        guard case .corruptGzip? = dataError({ _ = try IDXArray(gzipData: padded, path: "p") }) else { Issue.record("garbage loaded"); return }
    }

    /// A header claiming more than the compressed bytes could ever expand to is refused before the
    /// payload is allocated; one claiming less than the data holds reads exactly what it declared.
    @Test func idxSizesAreBoundedByTheHeaderAndTheCompressedSize() throws {
        // 4 GiB declared in a ~100-byte file.
        let claim = gzipCompress([0, 0, 8, 3, 0, 1, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 128] + [UInt8](repeating: 1, count: 64))
        guard case .badHeader(_, let why)? = dataError({ _ = try IDXArray(gzipData: claim, path: "c") }) else {
            Issue.record("expected badHeader"); return
        }
        #expect(why.contains("more than the \(claim.count)-byte gzip file can hold"), "\(why)")
        // A bomb: 64 MiB of zeros (≈ 64 KB compressed) behind a header declaring 784 bytes.
        var bomb = [UInt8](IDXArray(shape: [1, 28, 28], bytes: [UInt8](repeating: 0, count: 784)).idxData())
        bomb += [UInt8](repeating: 0, count: 64 << 20)
        let gz = gzipCompress(bomb)
        #expect(gz.count < 100_000)
        #expect(dataError { _ = try IDXArray(gzipData: gz, path: "b") } == .sizeMismatch(path: "b", expected: 784, actual: 784 + (64 << 20)))
        // Declared larger than the data: reads what there is and says so.
        var short = idx([10, 10])
        short.removeLast(30)
        #expect(dataError { _ = try IDXArray(gzipData: gzipCompress(short), path: "s") } == .sizeMismatch(path: "s", expected: 100, actual: 70))
        // The generic reader has a caller's limit too.
        guard case .corruptGzip(_, let why2)? = dataError({ _ = try Gzip.inflate(gz, path: "b", maxOutput: 1 << 20) }) else {
            Issue.record("expected corruptGzip for the limit"); return
        }
        #expect(why2 == "decompresses to more than 1048576 bytes")
        #expect(try Gzip.inflate(gzipCompress(Array(repeating: 3, count: 4096)), maxOutput: 4096).count == 4096)
    }

    /// The streaming IDX reader gives the same arrays as inflating the whole file first.
    @Test func streamingAndWholeFileReadsAgree() throws {
        for name in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"] {
            let gz = try Data(contentsOf: bundledFile(name))
            let streamed = try IDXArray(gzipData: gz, path: name)
            let whole = try IDXArray(idxData: Gzip.inflate(gz), path: name)
            #expect(streamed == whole)
        }
        // Every truncation of a small file is an error, never a trap.
        let gz = gzipCompress(idx([5, 7], fill: 200))
        for cut in 0..<gz.count {
            #expect(dataError { _ = try IDXArray(gzipData: gz.prefix(cut), path: "t") } != nil, "cut at \(cut)")
        }
    }
}
