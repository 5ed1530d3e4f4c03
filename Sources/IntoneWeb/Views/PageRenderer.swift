import Mustache

/// Renders the console's pages with swift-mustache (hummingbird-project/swift-mustache 2.1.1).
///
/// Why Mustache and not Plot (JohnSundell/Plot 0.14.0), both compared for this console:
/// - Escaping. Mustache's `{{value}}` escapes `& < > " '`, which is right both in text
///   and in quoted attributes, and it is the default: raw output needs a visible
///   `{{{…}}}`, which no template here uses. Plot escapes text nodes only for `<`, `>`
///   and a bare `&` (it keeps anything shaped like an entity, so a job text `&lt;b&gt;`
///   would show as `<b>`), and writes attribute values as they are (`name="value"`): a
///   job id with a `"` in a `value=` or `href=` would break out of the attribute. Job
///   texts, ids and agent names are user input, so that settles it.
/// - Ergonomics. Plot's typed DSL catches misplaced elements at compile time; Mustache
///   templates are plain HTML anyone can read and edit, fed by small view structs.
///   Logic-less templates keep formatting and bounds in Swift, where they are tested.
/// - Build cost. Mustache is 2,200 lines without dependencies (5.4 s release build
///   here); Plot 5,300 lines (10.5 s), and its DSL's long generic expressions are slow to
///   type-check in the code that uses it. Mustache is from the Hummingbird project,
///   whose server the console already runs on.
struct PageRenderer: Sendable {
    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, text) in Templates.all { try library.register(text, named: name) }
        self.library = library
    }

    func render(_ template: String, _ view: LayoutView) -> String {
        library.render(Self.values(of: view), withTemplate: template) ?? ""
    }

    /// A view struct as nested dictionaries and arrays, reflected once. Mustache would
    /// otherwise reflect a struct (`Mirror`) at every `{{name}}` it looks up in it, and in
    /// every struct it passes on the way up the context stack: most of a page's time.
    static func values(of value: Any) -> Any {
        switch value {
        case let text as String: return text
        case let flag as Bool: return flag
        case let number as Int: return number
        case let values as [Any]: return values.map { Self.values(of: $0) }
        default: break
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .struct, .class:
            var fields: [String: Any] = [:]
            for child in mirror.children {
                guard let label = child.label else { continue }
                let childMirror = Mirror(reflecting: child.value)
                if childMirror.displayStyle == .optional {
                    // nil leaves the name out, as Mustache treats a nil property.
                    if let wrapped = childMirror.children.first?.value { fields[label] = Self.values(of: wrapped) }
                } else {
                    fields[label] = Self.values(of: child.value)
                }
            }
            return fields
        case .optional:
            return mirror.children.first.map { Self.values(of: $0.value) } ?? value
        default:
            return value
        }
    }
}

/// The page frame every template fills: title, navigation, queue, CSRF token.
struct LayoutView {
    struct NavLink {
        var href: String
        var label: String
        var current: Bool
    }

    var title: String
    /// Navigation, queue and Redis address: left out for a visitor not signed in.
    var known: Bool
    var nav: [NavLink]
    var queue: String
    var keyPrefix: String
    /// The Redis URL with its password hidden.
    var redis: String
    var csrf: String
    var refreshSeconds: Int
    var live: Bool
    var signedIn: Bool
    var notice: String?
    var assetVersion: String
    var page: Any
}

/// The console's sections, in the order of the navigation.
enum Section: String, CaseIterable {
    case overview, workers, results, dead, agents, none

    var href: String { self == .overview ? "/" : "/" + rawValue }
    var label: String {
        switch self {
        case .overview: "Overview"
        case .workers: "Workers"
        case .results: "Results"
        case .dead: "Dead letters"
        case .agents: "Agents"
        case .none: ""
        }
    }
}
