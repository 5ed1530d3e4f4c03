import Hummingbird

/// The console's stylesheet and script, compiled into the binary: no build step, no
/// files to ship, nothing fetched from elsewhere.
enum Assets {
    /// Changes with the assets, so that pages ask for the new ones (`?v=`) and the old
    /// ones may be cached for long.
    static let version: String = {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in (css + javaScript).utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash & 0xFFFF_FFFF, radix: 16)
    }()

    static func response(_ text: String, contentType: String, _ request: Request) -> Response {
        let tag = "\"\(version)\""
        if request.headers[.ifNoneMatch] == tag {
            return Response(status: .notModified, headers: [.eTag: tag])
        }
        return Response(
            status: .ok, headers: [.contentType: contentType, .eTag: tag, .cacheControl: "public, max-age=86400"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let css = """
        :root { --bg: #fbfbfa; --fg: #1d1f21; --muted: #6a6f75; --line: #e2e2de; --card: #ffffff; --accent: #2f5fd0;
          --ok: #2e9d5b; --text_only: #8a8f98; --rate_limited: #d99a1e; --expired: #7a5cc7; --failed: #d1453b; --other: #4aa3c8; }
        @media (prefers-color-scheme: dark) {
          :root { --bg: #16181b; --fg: #e6e6e3; --muted: #9aa0a6; --line: #2c3035; --card: #1e2125; --accent: #7ea2ff; }
        }
        * { box-sizing: border-box; }
        body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
        body.stale main { opacity: .6; }
        header.top { display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; align-items: center; padding: .6rem 1.2rem;
          border-bottom: 1px solid var(--line); background: var(--card); }
        .brand { font-weight: 700; color: var(--fg); text-decoration: none; letter-spacing: .02em; }
        nav a { margin-right: .9rem; color: var(--muted); text-decoration: none; padding: .2rem 0; }
        nav a[aria-current=page] { color: var(--fg); border-bottom: 2px solid var(--accent); }
        .where { color: var(--muted); font-size: 12px; }
        .tools { margin-left: auto; display: flex; gap: .8rem; align-items: center; color: var(--muted); }
        main { padding: .8rem 1.2rem 3rem; max-width: 1400px; }
        h1 { font-size: 20px; margin: .4rem 0 .8rem; }
        h2 { font-size: 15px; margin: 1.6rem 0 .5rem; }
        code { font: 12px/1.3 ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
        pre { white-space: pre-wrap; word-break: break-word; margin: 0; font: 12px/1.4 ui-monospace, monospace; }
        a { color: var(--accent); }
        .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: .6rem; }
        .card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem; }
        .card a { color: inherit; text-decoration: none; display: block; }
        .card .label { display: block; color: var(--muted); font-size: 12px; }
        .card .value { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
        table.grid { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
        table.narrow { width: auto; min-width: 320px; }
        .grid th, .grid td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        .grid thead th { font-size: 12px; color: var(--muted); font-weight: 600; }
        .grid .num { text-align: right; font-variant-numeric: tabular-nums; }
        .grid td.detail { max-width: 28rem; overflow-wrap: anywhere; }
        .grid td.id { max-width: 14rem; }
        .grid td.audio audio { height: 28px; width: 220px; vertical-align: middle; }
        .fields th { width: 12rem; }
        .badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: 12px; color: #fff; background: var(--other); }
        .dot { display: inline-block; width: .7rem; height: .7rem; border-radius: 50%; margin-right: .35rem; background: var(--other); }
        .s-ok { background: var(--ok); fill: var(--ok); }
        .s-text_only { background: var(--text_only); fill: var(--text_only); }
        .s-rate_limited { background: var(--rate_limited); fill: var(--rate_limited); }
        .s-expired { background: var(--expired); fill: var(--expired); }
        .s-failed { background: var(--failed); fill: var(--failed); }
        .s-other { background: var(--other); fill: var(--other); }
        .chart { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem; }
        .chart svg { width: 100%; height: auto; display: block; }
        .chart line.grid { stroke: var(--line); stroke-width: 1; }
        .chart text.axis { fill: var(--muted); font-size: 11px; }
        .chart figcaption { margin-top: .3rem; }
        .legend { margin-right: 1rem; font-size: 12px; }
        .filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin-bottom: .6rem; }
        .settings label { display: block; margin: .45rem 0; }
        .settings input, .settings select { min-width: 16rem; }
        input, select, button { font: inherit; padding: .25rem .45rem; border: 1px solid var(--line); border-radius: 4px;
          background: var(--card); color: var(--fg); }
        button { cursor: pointer; }
        button.danger { color: var(--failed); }
        button.link { border: none; background: none; color: var(--accent); padding: 0; }
        form.inline { display: inline; }
        .bulk { display: flex; gap: .6rem; align-items: center; margin: .6rem 0; }
        .summary, .hint, .empty { color: var(--muted); }
        .hint { font-size: 12px; }
        .notice { margin: .6rem 1.2rem 0; padding: .5rem .8rem; border-left: 3px solid var(--ok); background: var(--card); }
        main .notice { margin: .6rem 0; }
        .problem { padding: .5rem .8rem; border-left: 3px solid var(--failed); background: var(--card); }
        .live input { vertical-align: middle; }
        """

    static let javaScript = """
        // Intone console: confirmations and live refresh. No framework; served by the console.
        (function () {
          'use strict';
          document.addEventListener('submit', function (event) {
            var form = event.target;
            if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
          });
          var seconds = parseInt(document.body.dataset.refresh || '0', 10);
          var box = document.getElementById('live');
          if (!seconds || !box) return;
          try { box.checked = window.localStorage.getItem('intone.live') !== 'off'; } catch (e) {}
          box.addEventListener('change', function () {
            try { window.localStorage.setItem('intone.live', box.checked ? 'on' : 'off'); } catch (e) {}
            if (box.checked) refresh();
          });
          function busy() {
            var active = document.activeElement;
            if (active && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName) && active !== box) return true;
            var players = document.querySelectorAll('audio');
            for (var i = 0; i < players.length; i++) if (!players[i].paused) return true;
            return false;
          }
          var timer = null;
          function schedule() { window.clearTimeout(timer); timer = window.setTimeout(refresh, seconds * 1000); }
          function refresh() {
            if (!box.checked || document.hidden || busy()) return schedule();
            window.fetch(window.location.href, { credentials: 'same-origin', redirect: 'manual', headers: { 'X-Intone-Refresh': '1' } })
              .then(function (response) {
                if (!response.ok) throw new Error('HTTP ' + response.status);
                return response.text();
              })
              .then(function (html) {
                var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('live-region');
                var current = document.getElementById('live-region');
                if (fresh && current && !busy()) current.replaceWith(document.adoptNode(fresh));
                document.body.classList.remove('stale');
              })
              .catch(function () { document.body.classList.add('stale'); })
              .then(schedule);
          }
          document.addEventListener('visibilitychange', function () { if (!document.hidden) schedule(); });
          schedule();
        })();
        """
}
