using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;
using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>What a result folder records besides the CSV files: how it was made, on what, and what it cost.</summary>
public sealed record RunContext(string CommandLine, DateTimeOffset StartedUtc, TimeSpan Wall, long PeakMemoryBytes, int Jobs);

/// <summary>
/// manifest.json: the fully resolved scenario of every sweep point (defaults included), the seed, the
/// OverlaySim version and git commit, the .NET version, and the wall time and peak memory. Wall time and
/// memory live here, never in the CSV files, so that those stay byte-identical across runs.
/// </summary>
public static class Manifest
{
    /// <summary>"0.1.0+3f2a9c1b7d4e": the version and the commit it was built from.</summary>
    public static string Version =>
        typeof(Manifest).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    public static string GitCommit => Version.Contains('+') ? Version[(Version.IndexOf('+') + 1)..] : "unknown";

    /// <param name="files">Every file of the result folder, this one included: a later <c>--force</c> replaces the
    /// folder only if it holds nothing else.</param>
    /// <param name="extra">Writes more properties after the runs: a shard's place in its sweep, or the shards a merge read.</param>
    public static void Write(string path, Scenario scenario, IReadOnlyList<RunRecord> runs, RunContext context, IReadOnlyList<string> files,
        IReadOnlyList<PlotSpec>? plots = null, Action<Utf8JsonWriter>? extra = null)
    {
        using var stream = File.Create(path);
        // Relaxed escaping: the manifest is read by people too, and the default encoder writes the '+' of the
        // version as \u002B and every non-ASCII character of a description as \uXXXX. It never goes into HTML.
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteString("scenario", scenario.Name);
        json.WriteString("scenario_file", Path.GetFullPath(scenario.File));
        json.WriteString("command_line", context.CommandLine);
        json.WriteStartArray("overrides");
        foreach (string s in scenario.Overrides) json.WriteStringValue(s);
        json.WriteEndArray();
        json.WriteNumber("seed", scenario.Points[0].Seed);
        json.WriteString("overlaysim_version", Version);
        json.WriteString("git_commit", GitCommit);
        json.WriteString("sweep_fingerprint", Sweep.Fingerprint(scenario));
        json.WriteString("dotnet_version", RuntimeInformation.FrameworkDescription);
        json.WriteString("os", RuntimeInformation.OSDescription);
        json.WriteNumber("processors", Environment.ProcessorCount);
        json.WriteNumber("jobs", context.Jobs);
        json.WriteString("started_utc", context.StartedUtc.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
        json.WriteNumber("wall_time_s", Math.Round(context.Wall.TotalSeconds, 3));
        json.WriteNumber("peak_memory_bytes", context.PeakMemoryBytes);
        json.WriteStartArray("files");
        foreach (string f in files) json.WriteStringValue(f);
        json.WriteEndArray();

        json.WriteStartArray("sweep");
        foreach (string p in scenario.SweptPaths) json.WriteStringValue(p);
        json.WriteEndArray();

        json.WriteStartArray("points");
        foreach (ScenarioPoint point in scenario.Points)
        {
            json.WriteStartObject();
            json.WriteStartObject("swept");
            foreach (var (k, v) in point.Swept) json.WriteString(k, v);
            json.WriteEndObject();
            json.WriteStartObject("resolved");
            foreach (var (k, v) in point.Resolved) json.WriteString(k, v);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        json.WriteEndArray();

        // The scenario's own figures, so that 'overlaysim plot' draws them again from the folder alone.
        json.WriteStartArray("plots");
        foreach (PlotSpec p in plots ?? [])
        {
            json.WriteStartObject();
            json.WriteString("name", p.Name);
            json.WriteString("x", p.X);
            json.WriteString("y", p.Y);
            if (p.Overlay is not null) json.WriteString("overlay", p.Overlay);
            json.WriteBoolean("log_x", p.LogX);
            if (p.Theory is not null) json.WriteString("theory", p.Theory);
            if (p.TheoryLabel is not null) json.WriteString("theory_label", p.TheoryLabel);
            if (p.Title is not null) json.WriteString("title", p.Title);
            if (p.YLabel is not null) json.WriteString("y_label", p.YLabel);
            json.WriteEndObject();
        }
        json.WriteEndArray();

        json.WriteStartArray("runs");
        foreach (RunRecord run in runs)
        {
            json.WriteStartObject();
            json.WriteNumber("run", run.Plan.Index + 1);
            json.WriteString("overlay", run.Plan.Overlay.Label);
            json.WriteNumber("nodes", run.Plan.Point.Nodes);
            json.WriteNumber("replicate", run.Plan.Replicate);
            foreach (var (k, v) in run.Plan.Point.Swept) json.WriteString(k, v);
            json.WriteNumber("events", run.Events);
            json.WriteString("trace_hash", run.TraceHash);
            json.WriteNumber("wall_time_s", run.WallSeconds);
            json.WriteNumber("build_wall_time_s", run.BuildSeconds);
            json.WriteNumber("simulate_wall_time_s", run.SimulateSeconds);
            json.WriteNumber("events_per_s", Math.Round(run.Events / Math.Max(1e-3, run.SimulateSeconds)));
            json.WriteEndObject();
        }
        json.WriteEndArray();
        extra?.Invoke(json);
        json.WriteEndObject();
    }
}
