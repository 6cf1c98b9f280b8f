import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn convert A B`: a state dict from a PyTorch checkpoint to safetensors, or back.
///
/// ```sh
/// swiftnn convert resnet18.pth resnet18.safetensors
/// swiftnn convert best.safetensors best.pth            # torch.load(..., weights_only=True) reads it
/// swiftnn convert ddp_checkpoint.pt model.safetensors --key model --strip-prefix module.
/// ```
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a state dict between a PyTorch checkpoint (.pth/.pt/.bin) and safetensors.",
        discussion: """
            The input format is recognised by content; the output format by extension: .safetensors, \
            or .pth/.pt/.bin for a torch.save file. A checkpoint that wraps the state dict \
            ({'model': ..., 'optimizer': ..., 'epoch': ...}) gives its one entry that is a dict of \
            tensors, or the entry named by --key; other entries are not converted. float16/bfloat16 \
            weights are widened to float32, int32/int16/int8 to int64.
            """)

    @Argument(help: ArgumentHelp("The file to read (.pth/.pt/.bin or .safetensors).", valueName: "input"))
    var input: String

    @Argument(help: ArgumentHelp("The file to write; its extension chooses the format.", valueName: "output"))
    var output: String

    @Option(help: ArgumentHelp("Top-level entry of the input that holds the state dict (e.g. model, state_dict).", valueName: "name"))
    var key: String?

    @Option(help: ArgumentHelp("Prefix to remove from the keys that start with it (e.g. module. from DataParallel).", valueName: "prefix"))
    var stripPrefix: String?

    func run() throws {
        do {
            let source = URL(fileURLWithPath: input), destination = URL(fileURLWithPath: output)
            let ext = destination.pathExtension.lowercased()
            guard ["safetensors", "pth", "pt", "bin"].contains(ext) else {
                throw CLIError("cannot tell the output format from '\(output)': use a .safetensors, .pth, .pt or .bin file name")
            }
            let data: Foundation.Data
            do {
                data = try Foundation.Data(contentsOf: source, options: [.mappedIfSafe])
            } catch {
                throw CLIError("cannot read '\(input)': \((error as NSError).localizedDescription)")
            }
            var note = ""
            let sd: StateDict
            switch WeightsFileFormat.detect(data) {
            case .torch:
                let value = try TorchFile.decode(data)
                let (_, entry) = try StateDict.selectStateDict(in: value, key: key)
                sd = try StateDict(value, key: key, stripPrefix: stripPrefix)
                if let entry, let top = value.dictValue {
                    let rest = top.keyNames.filter { $0 != entry }
                    note = " (entry '\(entry)' of the checkpoint" + (rest.isEmpty ? ")" : "; not converted: \(rest.joined(separator: ", ")))")
                }
            case .safetensors:
                sd = try StateDict(weightsData: data, key: key, stripPrefix: stripPrefix, convertingHalfPrecision: true)
            }
            try sd.save(to: destination)
            let elements = sd.reduce(0) { $0 + $1.value.count }
            let format = WeightsFileFormat.forExtension(of: destination) == .torch ? "PyTorch zip" : "safetensors"
            say("Wrote \(sd.count) tensors (\(elements) values) to \(output) as \(format)\(note)")
        } catch {
            // The library's advice names its argument; on the command line it is an option.
            printError(CLIError("\(error)".replacingOccurrences(of: "pass key:", with: "pass --key")))
            throw ExitCode.failure
        }
    }
}
