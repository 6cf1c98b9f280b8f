import Foundation
import Testing
import TestSupport
@testable import SwiftNNMonitor

/// What `scripts/reference/tensorboard_events.py` wrote into the PyTorch event file.
private struct TensorBoardCases: Decodable {
    struct Scalar: Decodable { var tag: String; var step: Int; var value: Double; var wall_time: Double }
    struct Histogram: Decodable { var tag: String; var step: Int; var values: [Float]; var wall_time: Double }
    struct CRC: Decodable { var hex: String; var crc32c: UInt32; var masked: UInt32 }
    var first_wall_time: Double
    var source_writer: String
    var scalars: [Scalar]
    var histograms: [Histogram]
    var crc32c: [CRC]

    static func load() throws -> TensorBoardCases {
        try JSONDecoder().decode(TensorBoardCases.self, from: Data(contentsOf: Fixtures.url("tensorboard/cases.json")))
    }
}

private func bytes(hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}

@Suite struct TensorBoardTests {
    @Test func crc32cMatchesPublishedAndTensorBoardVectors() throws {
        // RFC 3720 (iSCSI) appendix B.4 and the usual check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        // TensorBoard's own implementation, on lengths that cover the 8-byte loop and its tail.
        let cases = try TensorBoardCases.load()
        #expect(cases.crc32c.count >= 9)
        for c in cases.crc32c {
            let b = bytes(hex: c.hex)
            #expect(CRC32C.checksum(b) == c.crc32c, "crc32c of \(b.count) bytes")
            #expect(CRC32C.masked(b) == c.masked, "masked crc32c of \(b.count) bytes")
        }
    }

    @Test func defaultBucketEdgesAreTensorBoards() {
        let e = TensorBoardHistogram.defaultEdges
        #expect(e.count % 2 == 1)
        #expect(e[e.count / 2] == 0)
        #expect(e[e.count / 2 + 1] == 1e-12)
        #expect(e.last! >= 1e20 / 1.1 && e.last! < 1e20)
        #expect(zip(e, e.dropFirst()).allSatisfy { $0 < $1 })
    }

    /// The same scalars and histograms written by SwiftNN and by PyTorch's SummaryWriter (clock
    /// pinned in both) give the same file, byte for byte.
    @Test func eventFileIsByteIdenticalToPyTorchs() throws {
        let cases = try TensorBoardCases.load()
        let want = try [UInt8](Data(contentsOf: Fixtures.url("tensorboard/pytorch_events.bin")))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try SummaryWriter(logDir: dir, filenameSuffix: "", clock: { cases.first_wall_time }, sourceWriter: cases.source_writer)
        for s in cases.scalars { try w.addScalar(s.tag, s.value, globalStep: s.step, walltime: s.wall_time) }
        for h in cases.histograms {
            try w.addHistogram(h.tag, h.values.map(Double.init), globalStep: h.step, walltime: h.wall_time)
        }
        w.close()
        #expect(w.fileURL.lastPathComponent.hasPrefix("events.out.tfevents.1700000000."))
        let got = try [UInt8](Data(contentsOf: w.fileURL))
        let gotRecords = try TFRecord.records(got), wantRecords = try TFRecord.records(want)
        #expect(gotRecords.count == 1 + cases.scalars.count + cases.histograms.count)
        #expect(gotRecords.count == wantRecords.count)
        for (i, (g, r)) in zip(gotRecords, wantRecords).enumerated() {
            #expect(g == r, "record \(i) differs")
        }
        #expect(got == want)
    }

    @Test func framingIsCheckedOnRead() throws {
        let record = TFRecord.frame(Array("hello".utf8))
        #expect(record.count == 8 + 4 + 5 + 4)
        #expect(try TFRecord.records(record + record) == [Array("hello".utf8), Array("hello".utf8)])
        var bad = record
        bad[13] ^= 1
        #expect(throws: TFRecord.FramingError.self) { try TFRecord.records(bad) }
        bad = record
        bad[0] = 200
        #expect(throws: TFRecord.FramingError.self) { try TFRecord.records(bad) }
        #expect(throws: TFRecord.FramingError.self) { try TFRecord.records(Array(record.dropLast())) }
    }

    @Test func histogramBucketsLikeNumpy() throws {
        let e = TensorBoardHistogram.defaultEdges
        let zero = e.count / 2
        // 0 falls in [0, 1e-12); a value on an edge belongs to the bucket starting there.
        let h = try #require(TensorBoardHistogram([0, 0, e[zero + 3]] as [Double]))
        // Kept: the empty bucket [-1e-12, 0) in front (its right edge 0 is the left edge of the
        // first filled one), then [0, 1e-12) … up to the bucket holding the largest value.
        #expect(h.bucketLimits == Array(e[zero...(zero + 4)]))
        #expect(h.bucketCounts == [0, 2, 0, 0, 1])
        #expect(h.count == 3 && h.min == 0 && h.max == e[zero + 3])
        // Non-finite values are left out; nothing finite: no histogram.
        #expect(TensorBoardHistogram([Double.nan, .infinity]) == nil)
        let g = try #require(TensorBoardHistogram([1, .nan] as [Double]))
        #expect(g.count == 1 && g.sum == 1)
    }

    @Test func writerRefusesAClosedFileAndAnUnwritableFolder() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let w = try SummaryWriter(logDir: dir)
        try w.addScalar("a", 1, globalStep: 1)
        w.close()
        #expect(throws: TensorBoardError.self) { try w.addScalar("a", 2, globalStep: 2) }
        // A regular file where the folder should be.
        let file = dir.appendingPathComponent("plain")
        try Data([1]).write(to: file)
        #expect(throws: TensorBoardError.self) { _ = try SummaryWriter(logDir: file) }
    }
}
