using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>
/// What identifies a sweep's runs across processes and machines, and <c>sweep.json</c>, which says so in a staging or
/// shard folder. Two attempts at a sweep may share their finished runs only when their fingerprints are equal.
/// </summary>
public static class Sweep
{
    public const string FileName = "sweep.json";

    private const string Format = "overlaysim-sweep-1";

    /// <summary>
    /// SHA-256 (the first 32 hex digits) of the OverlaySim version, the scenario's name, its overrides, its swept paths,
    /// every point's resolved parameters and the contents of the latency matrices and churn traces it read: everything a
    /// run's results depend on. The scenario file's path, comments and layout do not count.
    /// </summary>
    public static string Fingerprint(Scenario scenario)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Text(string s)
        {
            hash.AppendData(BitConverter.GetBytes(Encoding.UTF8.GetByteCount(s)));
            hash.AppendData(Encoding.UTF8.GetBytes(s));
        }
        Text(Format);
        Text(Manifest.Version);
        Text(scenario.Name);
        foreach (string o in scenario.Overrides) Text("override " + o);
        foreach (string p in scenario.SweptPaths) Text("swept " + p);
        foreach (ScenarioPoint point in scenario.Points)
        {
            Text("point");
            foreach (var (k, v) in point.Resolved) Text(k + "=" + v);
            if (point.Matrix is { } m)
            {
                Text("matrix " + m.Hosts);
                hash.AppendData(MemoryMarshal.AsBytes(m.RttMicros.AsSpan()));
            }
            if (point.Churn.Trace is { } trace)
            {
                Text("trace " + trace.Count);
                foreach (var e in trace) Text($"{e.Time} {e.Machine} {e.Action}");
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }

    /// <summary>A folder's <c>sweep.json</c>: which sweep its records belong to and, for a shard, which share of it.</summary>
    public sealed record Info(string Scenario, string ScenarioFile, IReadOnlyList<string> Overrides, string Version, string Fingerprint, int Runs, ShardSpec? Shard);

    public static Info InfoOf(Scenario scenario, int runs, ShardSpec? shard) =>
        new(scenario.Name, Path.GetFullPath(scenario.File), scenario.Overrides, Manifest.Version, Fingerprint(scenario), runs, shard);

    /// <summary>Writes a sweep file atomically (a temporary file, flushed to the disk, then renamed).</summary>
    public static void Write(string path, Info info)
    {
        string temporary = path + ".tmp";
        using (var stream = File.Create(temporary))
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteString("scenario", info.Scenario);
            json.WriteString("scenario_file", info.ScenarioFile);
            json.WriteStartArray("overrides");
            foreach (string s in info.Overrides) json.WriteStringValue(s);
            json.WriteEndArray();
            json.WriteString("overlaysim_version", info.Version);
            json.WriteString("sweep_fingerprint", info.Fingerprint);
            json.WriteNumber("runs", info.Runs);
            if (info.Shard is { } s2) json.WriteString("shard", s2.ToString());
            json.WriteEndObject();
            json.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads a <c>sweep.json</c>; throws <see cref="ScenarioException"/> naming the file when it is not one.</summary>
    public static Info Read(string path)
    {
        InputFile.Check(path, FileName, 1L << 20);
        var at = new Origin(path, 0, 0);
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement f) || f.GetString() != Format)
                throw new ScenarioException(at, $"is not an OverlaySim sweep file (expected \"format\": \"{Format}\")");
            ShardSpec? shard = null;
            if (root.TryGetProperty("shard", out JsonElement s))
            {
                try { shard = ShardSpec.Parse(s.GetString() ?? ""); }
                catch (ScenarioException e) { throw new ScenarioException(at, $"its \"shard\" is not I/N: {e.Diagnostics[0].Message}"); }
            }
            return new Info(
                root.GetProperty("scenario").GetString() ?? "",
                root.GetProperty("scenario_file").GetString() ?? "",
                root.GetProperty("overrides").EnumerateArray().Select(e => e.GetString() ?? "").ToList(),
                root.GetProperty("overlaysim_version").GetString() ?? "",
                root.GetProperty("sweep_fingerprint").GetString() ?? "",
                root.GetProperty("runs").GetInt32(),
                shard);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ScenarioException(at, $"cannot be read as an OverlaySim sweep file: {e.Message}");
        }
    }

    /// <summary>
    /// True when <paramref name="folder"/> is a finished result (or shard) folder of exactly these runs: a result folder
    /// whose manifest records this sweep's fingerprint and the same shard (or none).
    /// </summary>
    public static bool Holds(string folder, Info sweep)
    {
        if (!Directory.Exists(folder) || ResultFolder.NotAResultFolder(folder) is not null) return false;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "manifest.json")));
            JsonElement root = doc.RootElement;
            string? shard = root.TryGetProperty("shard", out JsonElement s) ? s.GetString() : null;
            return root.TryGetProperty("sweep_fingerprint", out JsonElement f) && f.GetString() == sweep.Fingerprint
                   && shard == sweep.Shard?.ToString();
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Null when two sweep files describe the same runs; else what differs, in words.</summary>
    public static string? Difference(Info a, Info b)
    {
        if (a.Version != b.Version) return $"OverlaySim versions differ ({a.Version} and {b.Version})";
        if (a.Scenario != b.Scenario) return $"scenarios differ ('{Diagnostic.Clip(a.Scenario)}' and '{Diagnostic.Clip(b.Scenario)}')";
        if (!a.Overrides.SequenceEqual(b.Overrides))
            return $"overrides differ ([{Diagnostic.Clip(string.Join(" ", a.Overrides))}] and [{Diagnostic.Clip(string.Join(" ", b.Overrides))}])";
        if (a.Fingerprint != b.Fingerprint) return "the scenario's resolved parameters or input files differ (sweep fingerprints " + a.Fingerprint + " and " + b.Fingerprint + ")";
        if (a.Runs != b.Runs) return $"the sweeps have {a.Runs} and {b.Runs} runs";
        return null;
    }
}
