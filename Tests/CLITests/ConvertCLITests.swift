import Foundation
import Testing
import SwiftNN
import TestSupport

/// `swiftnn convert`: .pth ↔ .safetensors both ways, wrappers and prefixes, refusals.
@Suite struct ConvertCLITests {
    @Test func convertsBothWaysAndKeepsEveryTensor() throws {
        let dir = makeTempDirectory("convert")
        defer { cleanUp(dir) }
        let source = Fixtures.url("pth/training_checkpoint.pth")
        let st = dir.appendingPathComponent("model.safetensors"), pth = dir.appendingPathComponent("model.pth")
        let r1 = try runSwiftNN(["convert", source.path, st.path])
        #expect(r1.status == 0, "\(r1.stderr)")
        #expect(r1.stdout.contains("entry 'model'") && r1.stdout.contains("not converted: optimizer"))
        let r2 = try runSwiftNN(["convert", st.path, pth.path])
        #expect(r2.status == 0, "\(r2.stderr)")
        let want = try StateDict(contentsOf: source, key: "model")
        for url in [st, pth] {
            let got = try StateDict(contentsOf: url)
            #expect(Set(got.keys) == Set(want.keys))
            for k in want.keys {
                #expect(got[k]?.shape == want[k]?.shape && got[k]?.dtype == want[k]?.dtype, "\(k)")
                #expect(got[k].map { $0.scalars } == want[k].map { $0.scalars }, "\(k)")
            }
        }
        #expect(WeightsFileFormat.detect(try Data(contentsOf: pth)) == .torch)
    }

    @Test func keyAndStripPrefixOptions() throws {
        let dir = makeTempDirectory("convert")
        defer { cleanUp(dir) }
        let out = dir.appendingPathComponent("m.pt")
        let r = try runSwiftNN(["convert", Fixtures.url("pth/ddp_wrapped.pth").path, out.path, "--key", "state_dict", "--strip-prefix", "module."])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try StateDict(contentsOf: out).keys.first == "net.0.weight")
        let ambiguous = try runSwiftNN(["convert", Fixtures.url("pth/two_state_dicts.pth").path, out.path])
        #expect(ambiguous.status != 0 && ambiguous.stderr.contains("pass --key"))
    }

    @Test func refusesMaliciousFilesAndUnknownExtensions() throws {
        let dir = makeTempDirectory("convert")
        defer { cleanUp(dir) }
        let evil = try runSwiftNN(["convert", Fixtures.url("pth/malicious_os_system.pth").path, dir.appendingPathComponent("x.safetensors").path])
        #expect(evil.status != 0 && evil.stderr.contains("'posix.system' is not allowed"))
        let ext = try runSwiftNN(["convert", Fixtures.url("pth/dtypes.pth").path, dir.appendingPathComponent("x.txt").path])
        #expect(ext.status != 0 && ext.stderr.contains("output format"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}
