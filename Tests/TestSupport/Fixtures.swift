import Foundation

/// The reference cases made by real PyTorch (copied from the project's shared fixtures so the
/// tests stand alone), and the small real data sets the loader tests use.
public enum Fixtures {
    /// Root of the copied fixtures folder (`layers/`, `models/`, `training/`, `errors.json`, …).
    public static var root: URL {
        Bundle.module.resourceURL!.appendingPathComponent("fixtures")
    }

    /// A file below the fixtures root, e.g. `Fixtures.url("layers/bn2d_default.safetensors")`.
    public static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }

    /// Every file in a fixtures subfolder with the given extension, sorted by name.
    public static func files(in folder: String, withExtension ext: String = "safetensors") -> [URL] {
        let dir = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix("." + ext) }.sorted().map { dir.appendingPathComponent($0) }
    }

    /// The 20 CIFAR-10 test images in the binary format.
    public static var cifar10Test20: URL {
        Bundle.module.resourceURL!.appendingPathComponent("data/cifar10-test20/test_batch.bin")
    }
}
