/// The console's Mustache templates, compiled into the binary (no files to ship).
///
/// Every value goes in with `{{name}}`, which escapes `& < > " '`: safe in text and in
/// quoted attributes alike. No template uses `{{{…}}}` (unescaped); the chart's SVG is a
/// template too, fed numbers.
enum Templates {
    static let all: [String: String] = [
        "layout": layout, "overview": overview, "chart": chart, "workers": workers, "results": results, "dead": dead,
        "deadLetter": deadLetter, "agents": agents, "agentEdit": agentEdit, "login": login, "error": error,
    ]

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Intone{{#known}} {{queue}}{{/known}}</title>
        <link rel="stylesheet" href="/assets/console.css?v={{assetVersion}}">
        <script src="/assets/console.js?v={{assetVersion}}" defer></script>
        </head>
        <body data-refresh="{{refreshSeconds}}">
        <header class="top">
          <a class="brand" href="/">Intone</a>{{#known}}
          <nav>{{#nav}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/nav}}</nav>
          <span class="where">queue <code>{{queue}}</code> · <code>{{redis}}</code></span>{{/known}}
          <span class="tools">{{#live}}<label class="live" title="Refresh this page every {{refreshSeconds}} s"><input type="checkbox" id="live" checked> live</label>{{/live}}{{#signedIn}}
            <form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="link">sign out</button></form>{{/signedIn}}</span>
        </header>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        <main id="live-region">
        {{$content}}{{/content}}
        </main>
        </body>
        </html>

        """

    static let overview = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Overview</h1>
        <section class="cards">
          <div class="card"><span class="label">waiting (lag)</span><span class="value" id="lag">{{lag}}</span></div>
          <div class="card"><span class="label">pending</span><span class="value" id="pending">{{pending}}</span></div>
          <div class="card"><span class="label">oldest pending</span><span class="value" id="oldest-pending">{{oldestPending}}</span></div>
          <div class="card"><a href="/dead"><span class="label">dead letters</span><span class="value" id="dead-letters">{{deadLetters}}</span></a></div>
          <div class="card"><span class="label">jobs/s (last minute)</span><span class="value" id="jobs-per-second">{{jobsPerSecond}}</span></div>
          <div class="card"><span class="label">audio rendered (1 h)</span><span class="value" id="audio-hour">{{audioHour}}</span></div>
          <div class="card"><a href="/workers"><span class="label">live workers</span><span class="value" id="live-workers">{{liveWorkers}}</span></a></div>
          <div class="card"><a href="/results"><span class="label">results kept</span><span class="value" id="results-kept">{{resultsKept}}</span></a></div>
        </section>
        {{#hasStreams}}
        <h2>Shards</h2>
        <table class="grid" id="shards">
          <thead><tr><th>jobs stream</th>{{#clustered}}<th>node</th>{{/clustered}}<th class="num">lag</th><th class="num">pending</th><th class="num">oldest pending</th><th class="num">dead letters</th><th class="num">results kept</th><th class="num">jobs/s</th></tr></thead>
          <tbody>{{#streams}}<tr data-stream="{{stream}}"><td><code>{{stream}}</code></td>{{#clustered}}<td><code>{{node}}</code></td>{{/clustered}}<td class="num">{{lag}}</td><td class="num">{{pending}}</td><td class="num">{{oldestPending}}</td><td class="num">{{deadLetters}}</td><td class="num">{{resultsKept}}</td><td class="num">{{jobsPerSecond}}</td></tr>{{/streams}}</tbody>
        </table>
        <p class="hint">{{shards}} shards and the version-1 stream; the figures above are their sums.</p>
        {{/hasStreams}}
        <h2>Results over the last hour</h2>
        {{#chart}}{{>chart}}{{/chart}}
        <h2>Totals</h2>
        <table class="grid narrow" id="totals">
          <thead><tr><th>status</th><th class="num">last hour</th><th class="num">since the stats began</th></tr></thead>
          <tbody>{{#totals}}<tr><td><span class="dot s-{{status}}"></span>{{status}}</td><td class="num">{{hour}}</td><td class="num">{{allTime}}</td></tr>{{/totals}}
          <tr><td>audio rendered</td><td class="num">{{audioHour}}</td><td class="num">{{audioTotal}}</td></tr></tbody>
        </table>
        <p class="hint">The jobs stream holds {{streamLength}} entries: {{lag}} not yet read, {{pending}} read and not finished.
        Counters come from <code>{{keyPrefix}}stats</code> and the per-minute hashes <code>{{keyPrefix}}minute:&lt;unix minute&gt;</code> the workers write.</p>
        {{/page}}{{/content}}{{/layout}}
        """

    static let chart = """
        <figure class="chart">
        <svg id="history-chart" viewBox="0 0 {{width}} {{height}}" role="img" aria-label="Results per minute by status, last 60 minutes">
          {{#gridlines}}<line class="grid" x1="{{left}}" x2="{{right}}" y1="{{y}}" y2="{{y}}"/><text class="axis" x="{{labelX}}" y="{{labelY}}" text-anchor="end">{{label}}</text>{{/gridlines}}
          {{#bars}}<rect class="s-{{status}}" x="{{x}}" y="{{y}}" width="{{w}}" height="{{h}}"><title>{{tip}}</title></rect>{{/bars}}
          {{#ticks}}<text class="axis" x="{{x}}" y="{{y}}" text-anchor="{{anchor}}">{{label}}</text>{{/ticks}}
          <text class="axis" x="{{unitX}}" y="12" text-anchor="start">jobs/s</text>
        </svg>
        <figcaption>{{#legend}}<span class="legend"><span class="dot s-{{status}}"></span>{{status}} {{count}}</span>{{/legend}}{{#empty}}<span class="hint">No results in the last hour.</span>{{/empty}}</figcaption>
        </figure>
        """

    static let workers = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Workers</h1>
        {{#hasWorkers}}
        <table class="grid" id="workers">
          <thead><tr><th>consumer</th><th>host</th><th class="num">pid</th><th>version</th><th>started</th><th>rendering now</th><th class="num">in hand</th><th class="num">jobs done</th><th class="num">pending</th><th>last heartbeat</th></tr></thead>
          <tbody>{{#rows}}<tr data-consumer="{{consumer}}"><td><code>{{consumer}}</code></td><td>{{host}}</td><td class="num">{{pid}}</td><td>{{version}}</td><td title="{{startedAt}}">{{uptime}} ago</td>
          <td>{{#rendering}}<code>{{job}}</code> <span class="hint">for {{jobFor}}</span>{{/rendering}}{{^rendering}}<span class="hint">idle</span>{{/rendering}}</td>
          <td class="num">{{inHand}}</td><td class="num">{{jobsDone}}</td><td class="num">{{pending}}</td><td>{{lastSeen}} ago</td></tr>{{/rows}}</tbody>
        </table>
        {{/hasWorkers}}
        {{^hasWorkers}}<p class="empty" id="no-workers">No worker is running: none has sent a heartbeat in the last {{ttlSeconds}} seconds.</p>{{/hasWorkers}}
        {{#hasOrphans}}
        <h2>Consumers of the group without a heartbeat</h2>
        <p class="hint">Consumers the group still knows; a worker that stopped leaves its name until it is cleaned up, and entries it holds are taken over after the claim time.</p>
        <table class="grid narrow" id="consumers"><thead><tr><th>consumer</th><th class="num">pending</th><th>idle</th></tr></thead>
        <tbody>{{#orphans}}<tr><td><code>{{name}}</code></td><td class="num">{{pending}}</td><td>{{idle}}</td></tr>{{/orphans}}</tbody></table>
        {{/hasOrphans}}
        <p class="hint">A worker publishes a heartbeat (<code>{{keyPrefix}}worker:&lt;consumer&gt;</code>, TTL {{ttlSeconds}} s) every few seconds; one that stops is gone from this list within {{ttlSeconds}} s.</p>
        {{/page}}{{/content}}{{/layout}}
        """

    static let results = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Results</h1>
        <form method="get" action="/results" class="filters" id="result-filters">
          <label>status <select name="status">{{#statusOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statusOptions}}</select></label>
          <label>agent <input name="agent" value="{{agent}}" size="14"></label>
          <label>user <input name="user" value="{{user}}" size="14"></label>
          <label>job id <input name="job" value="{{job}}" size="18"></label>
          <button type="submit">Filter</button> <a href="/results">clear</a>
        </form>
        <p class="summary" id="results-summary">{{summary}}</p>
        <table class="grid" id="results">
          <thead><tr><th>finished</th><th>job</th><th>agent</th><th>user</th><th>status</th><th>detail</th><th class="num">elapsed</th><th>audio</th></tr></thead>
          <tbody>{{#rows}}<tr data-entry="{{id}}" data-status="{{status}}">
          <td title="{{id}}">{{time}}</td><td class="id"><code>{{jobID}}</code></td><td><a href="{{agentURL}}">{{agent}}</a></td><td>{{user}}</td>
          <td><span class="badge s-{{status}}">{{status}}</span></td><td class="detail">{{detail}}</td><td class="num">{{elapsed}}</td>
          <td class="audio">{{#hasAudio}}<audio controls preload="none" src="{{audioURL}}"></audio> <a href="{{downloadURL}}" class="hint">{{format}}</a>{{/hasAudio}}{{#chunks}}<audio controls preload="none" src="{{url}}" title="chunk {{label}}"></audio>{{/chunks}}{{#moreChunks}}<span class="hint">{{moreChunks}}</span>{{/moreChunks}}</td>
          </tr>{{/rows}}</tbody>
        </table>
        {{#hasOlder}}<p><a href="{{olderURL}}" id="older">Older results →</a></p>{{/hasOlder}}
        {{/page}}{{/content}}{{/layout}}
        """

    static let dead = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Dead letters</h1>
        <form method="get" action="/dead" class="filters" id="dead-filters">
          <label>error code <select name="code">{{#codeOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/codeOptions}}</select></label>
          <button type="submit">Filter</button> <a href="/dead">clear</a>
        </form>
        <p class="summary" id="dead-summary">{{summary}}</p>
        {{#hasRows}}
        <div class="bulk">
          <form method="post" action="/dead/retry" data-confirm="Put the matching dead letters back on the jobs stream?">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="code" value="{{code}}"><input type="hidden" name="newest" value="{{newest}}">
            <button type="submit" id="retry-all">Retry all matching</button></form>
          <form method="post" action="/dead/delete" data-confirm="Delete the matching dead letters for good?">
            <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="code" value="{{code}}"><input type="hidden" name="newest" value="{{newest}}">
            <button type="submit" class="danger" id="delete-all">Delete all matching</button></form>
          <span class="hint">at most {{bulkLimit}} at a time, from the newest shown down</span>
        </div>
        {{/hasRows}}
        <table class="grid" id="dead-letters">
          <thead><tr><th>failed</th><th>id</th><th>job</th><th>agent</th><th>error</th><th>message</th><th></th></tr></thead>
          <tbody>{{#rows}}<tr data-id="{{id}}">
          <td>{{time}}</td><td><a href="{{showURL}}"><code>{{id}}</code></a></td><td class="id"><code>{{jobID}}</code></td><td>{{agent}}</td>
          <td><span class="badge s-failed">{{code}}</span></td><td class="detail">{{message}}</td>
          <td class="actions"><form method="post" action="{{retryURL}}" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="retry">retry</button></form>
          <form method="post" action="{{deleteURL}}" class="inline" data-confirm="Delete this dead letter?"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger delete">delete</button></form></td>
          </tr>{{/rows}}</tbody>
        </table>
        {{#hasOlder}}<p><a href="{{olderURL}}" id="older">Older dead letters →</a></p>{{/hasOlder}}
        {{/page}}{{/content}}{{/layout}}
        """

    static let deadLetter = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Dead letter <code>{{id}}</code></h1>
        {{#found}}
        <table class="grid fields" id="fields"><thead><tr><th>field</th><th>value</th></tr></thead>
        <tbody>{{#fields}}<tr><th scope="row"><code>{{name}}</code></th><td>{{#long}}<pre>{{value}}</pre>{{/long}}{{^long}}{{value}}{{/long}}</td></tr>{{/fields}}</tbody></table>
        <div class="bulk">
          <form method="post" action="{{retryURL}}"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="retry">Retry</button></form>
          <form method="post" action="{{deleteURL}}" data-confirm="Delete this dead letter?"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger" id="delete">Delete</button></form>
        </div>
        <p class="hint">Retry puts the job's own fields back on the jobs stream and removes this letter in one transaction; the job is answered again.</p>
        {{/found}}
        {{^found}}<p class="empty">There is no dead letter with this id (it was retried, deleted or trimmed).</p>{{/found}}
        <p><a href="/dead">← all dead letters</a></p>
        {{/page}}{{/content}}{{/layout}}
        """

    static let agents = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Agents</h1>
        <form method="get" action="/agents/edit" class="filters" id="open-agent">
          <label>agent id <input name="agent" size="24" required></label> <button type="submit">Open</button>
          <span class="hint">also for an agent that has no settings yet</span>
        </form>
        <p class="summary" id="agents-summary">{{summary}}</p>
        <table class="grid" id="agents">
          <thead><tr><th>agent</th><th>tts</th><th>voice</th><th class="num">rate</th><th class="num">pitch</th><th>keywords</th><th>rate limit</th></tr></thead>
          <tbody>{{#rows}}<tr><td><a href="{{editURL}}"><code>{{agent}}</code></a></td><td>{{tts}}</td><td>{{voice}}</td><td class="num">{{rate}}</td><td class="num">{{pitch}}</td><td>{{keywords}}</td><td>{{rateLimit}}</td></tr>{{/rows}}</tbody>
        </table>
        {{#hasNext}}<p><a href="{{nextURL}}" id="next">More agents →</a></p>{{/hasNext}}
        {{/page}}{{/content}}{{/layout}}
        """

    static let agentEdit = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Agent <code>{{agent}}</code></h1>
        {{#saved}}<p class="notice" role="status" id="saved">Saved. Workers pick the change up within a few seconds.</p>{{/saved}}
        {{#error}}<p class="problem" role="alert" id="error">{{error}}</p>{{/error}}
        <form method="post" action="{{actionURL}}" class="settings" id="agent-form">
          <input type="hidden" name="csrf" value="{{csrf}}">
          <label>tts <select name="tts">{{#ttsOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/ttsOptions}}</select></label>
          <label>voice <input name="voice" value="{{voice}}" placeholder="en"></label>
          <label>rate <input name="rate" value="{{rate}}" placeholder="175" inputmode="numeric"> <span class="hint">words per minute, 80 to 450</span></label>
          <label>pitch <input name="pitch" value="{{pitch}}" placeholder="50" inputmode="numeric"> <span class="hint">0 to 99</span></label>
          <label>keywords <input name="keywords" value="{{keywords}}" placeholder="read aloud, speak"> <span class="hint">comma-separated, for tts=keywords</span></label>
          <label>rate limit <input name="rate_limit" value="{{rateLimit}}" placeholder="20/s burst 40"> <span class="hint">N/s burst B</span></label>
          <p class="hint">A field left empty is removed from the hash, so its default applies. Values are checked as <code>intone agent set</code> checks them.</p>
          <button type="submit" id="save">Save</button>
        </form>
        <h2>Stored</h2>
        {{#hasStored}}<table class="grid narrow" id="stored"><tbody>{{#stored}}<tr><th scope="row"><code>{{name}}</code></th><td>{{value}}</td></tr>{{/stored}}</tbody></table>{{/hasStored}}
        {{^hasStored}}<p class="empty">No settings are stored for this agent: the defaults apply.</p>{{/hasStored}}
        <p><a href="/agents">← all agents</a></p>
        {{/page}}{{/content}}{{/layout}}
        """

    static let login = """
        {{<layout}}{{$content}}{{#page}}
        <h1>Sign in</h1>
        {{#error}}<p class="problem" role="alert" id="error">{{error}}</p>{{/error}}
        <form method="post" action="/login" class="settings" id="login">
          <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="next" value="{{next}}">
          <label>token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
          <button type="submit">Sign in</button>
        </form>
        <p class="hint">The console's token is the one given to <code>intone web</code> with <code>--token</code> or <code>INTONE_WEB_TOKEN</code>.</p>
        {{/page}}{{/content}}{{/layout}}
        """

    static let error = """
        {{<layout}}{{$content}}{{#page}}
        <h1>{{heading}}</h1>
        <p class="problem" role="alert" id="error">{{message}}</p>
        <p><a href="/">← overview</a></p>
        {{/page}}{{/content}}{{/layout}}
        """
}
