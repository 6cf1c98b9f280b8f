import Foundation
import Testing
import SwiftNN
import TestSupport

/// A checkpoint is data from outside: crafted architecture metadata must give a one-line error and
/// a non-zero exit from every command that reads it, never an overflow trap or an out-of-memory stop.
@Suite struct CLICraftedMetadataTests {
    @Test func craftedArchitectureMetadataIsRefused() throws {
        let data = try writeTinyMNIST(train: 40, test: 10)
        let out = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: out) }
        let trained = try runSwiftNN(["train", "--data", data.path, "--epochs", "1", "--batch-size", "16",
                                      "--hidden", "8", "--out", out.path])
        #expect(trained.status == 0, "\(trained.stderr)")
        let best = out.appendingPathComponent("best.safetensors")
        let original = try StateDict(contentsOf: best)
        let json = try #require(original.metadata["architecture"])
        let arch = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let crafted: [(String, Any)] = [
            ("inputShape", [1, 4_294_967_296, 4_294_967_296]),    // size overflows Int
            ("hiddenDims", [4_000_000_000_000]),                  // a 10¹⁶-weight layer
            ("numClasses", 4_000_000_000_000),
            ("mean", [0.1, 0.2, 0.3]),                            // 3 means for 1 channel
        ]
        for (key, value) in crafted {
            var a = arch
            a[key] = value
            if key == "mean" { a["std"] = [1.0, 1.0, 1.0] }
            var sd = original
            sd.metadata["architecture"] = String(decoding: try JSONSerialization.data(withJSONObject: a), as: UTF8.self)
            let url = out.appendingPathComponent("crafted-\(key).safetensors")
            try sd.save(to: url)
            for command in [["evaluate", "--checkpoint", url.path, "--data", data.path], ["doctor", "--checkpoint", url.path]] {
                let r = try runSwiftNN(command)
                #expect(r.status == 1, "\(command[0]) with crafted \(key): status \(r.status)")
                let lines = r.stderr.split(separator: "\n")
                #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains("invalid architecture metadata"),
                        "\(command[0]) with crafted \(key): \(r.stderr)")
            }
        }
        // The untouched checkpoint still passes the doctor (advice only, exit 0).
        let ok = try runSwiftNN(["doctor", "--checkpoint", best.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("bias-before-batchnorm"))
    }
}
