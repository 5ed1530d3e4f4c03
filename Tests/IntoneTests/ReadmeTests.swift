import Foundation
import Testing

@testable import IntoneCore

/// The documents agree with the code: the settings tables of the README and of the
/// contract page list every setting of `WorkerConfiguration.settings` with its flag,
/// placeholder, variable and default; and no tracked file points outside the repository.
@Suite struct ReadmeTests {
    /// The table that follows this comment in a document is compared with the code.
    static let tableMarker = "<!-- settings: WorkerConfiguration.settings -->"

    @Test(arguments: ["README.md", "docs/contract.md"])
    func settingsTableMatchesTheCode(_ document: String) throws {
        let text = try Repository.read(document)
        guard let rows = SettingsTable.rows(in: text, after: Self.tableMarker) else {
            Issue.record("\(document) has no table after the line \(Self.tableMarker)")
            return
        }
        var seen = Set<String>()
        for row in rows {
            let key = row.flag.split(separator: " ").first.map { String($0.dropFirst(2)) } ?? ""
            #expect(seen.insert(key).inserted, "\(document): --\(key) is listed twice")
            guard let setting = WorkerConfiguration.settings.first(where: { $0.key == key }) else {
                Issue.record("\(document): the row '\(row.flag)' names no setting of WorkerConfiguration.settings")
                continue
            }
            #expect(row.flag == "\(setting.flag) \(setting.placeholder)", "\(document): flag of --\(key)")
            #expect(row.environment == setting.environment, "\(document): environment variable of --\(key)")
            #expect(row.defaultText == setting.defaultText, "\(document): default of --\(key)")
        }
        let missing = WorkerConfiguration.settings.map(\.key).filter { !seen.contains($0) }
        #expect(missing.isEmpty, "\(document) does not list: \(missing.map { "--" + $0 }.joined(separator: ", "))")
    }

    /// The table reader itself: escaped pipes, backticks, the end of the table.
    @Test func tableReaderReadsCellsAsShown() throws {
        let text = """
            before
            \(Self.tableMarker)

            | flag | environment | default | meaning |
            |---|---|---|---|
            | `--default-tts on\\|off` | `INTONE_DEFAULT_TTS` | `on` | speech \\| or not |
            | `--consumer NAME` | `INTONE_CONSUMER` | host name and pid | who |

            | not | this |
            """
        let rows = try #require(SettingsTable.rows(in: text, after: Self.tableMarker))
        #expect(rows.count == 2)
        #expect(rows.first?.flag == "--default-tts on|off" && rows.first?.environment == "INTONE_DEFAULT_TTS")
        #expect(rows.last?.defaultText == "host name and pid")
        #expect(SettingsTable.rows(in: "no marker", after: Self.tableMarker) == nil)
    }

    /// Nothing the repository tracks may point at a folder beside the checkout: the
    /// project documents its contract, peers and benchmarks in its own files.
    @Test(
        .enabled(
            if: Repository.trackedFiles != nil,
            "git is not available here (or this is not a git checkout): the check of tracked files is skipped"))
    func noTrackedFileReachesOutsideTheRepository() throws {
        let files = try #require(Repository.trackedFiles)
        #expect(files.count > 10, "git ls-files listed \(files.count) files")
        // Spelled in two parts, so that this file does not match itself.
        let needle = Array((".." + "/shared").utf8)
        var offenders: [String] = []
        for path in files {
            guard let data = FileManager.default.contents(atPath: Repository.root + "/" + path) else { continue }
            if Self.contains(Array(data), needle) { offenders.append(path) }
        }
        #expect(offenders.isEmpty, "these files mention \(String(decoding: needle, as: UTF8.self)): \(offenders)")
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
    }
}

/// The rows of a Markdown settings table: flag with placeholder, variable, default, as a
/// reader sees them (backticks dropped, `\|` read as `|`).
enum SettingsTable {
    struct Row: Equatable {
        var flag: String
        var environment: String
        var defaultText: String
    }

    /// The first table after the line `marker`; nil when there is no marker or no table.
    static func rows(in text: String, after marker: String) -> [Row]? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let markerIndex = lines.firstIndex(of: marker) else { return nil }
        var index = markerIndex + 1
        while index < lines.count, !lines[index].hasPrefix("|") { index += 1 }
        // The header and the line under it.
        index += 2
        var rows: [Row] = []
        while index < lines.count, lines[index].hasPrefix("|") {
            let cells = Self.cells(lines[index])
            if cells.count >= 3 { rows.append(Row(flag: cells[0], environment: cells[1], defaultText: cells[2])) }
            index += 1
        }
        return rows.isEmpty ? nil : rows
    }

    /// A row's cells: split at unescaped `|`, `\|` read as `|`, backticks dropped, trimmed.
    static func cells(_ line: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var escaped = false
        for character in line.dropFirst() {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "|" {
                cells.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        return cells.map { $0.replacingOccurrences(of: "`", with: "").trimmingCharacters(in: .whitespaces) }
    }
}

/// The repository this file lives in, found from the file's own path.
enum Repository {
    /// `Tests/IntoneTests/ReadmeTests.swift` → the folder that holds `Package.swift`.
    static let root: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func read(_ path: String) throws -> String {
        try String(contentsOfFile: root + "/" + path, encoding: .utf8)
    }

    /// `git ls-files`, or nil when git cannot be run or this is not a checkout.
    static let trackedFiles: [String]? = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", root, "ls-files", "-z"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }()
}
