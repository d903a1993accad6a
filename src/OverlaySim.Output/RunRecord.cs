using System.Globalization;
using CsvHelper;
using OverlaySim.Scenarios;

namespace OverlaySim.Output;

/// <summary>
/// One finished run as the result files hold it: its rows of runs.csv, hops.csv, timeseries.csv and traffic.csv,
/// exactly as they are written, and what the manifest records of it (events, trace hash, wall times). Every result
/// folder is written from records, whether the runs were carried out just now, in an earlier interrupted attempt
/// (<c>--resume</c>) or on other machines (<c>--shard</c>, <c>merge</c>), so that all three give the same bytes.
/// </summary>
/// <remarks>
/// On disk a record is a small CSV file <c>runs/run-NNNNNN.csv</c> (the run's index, from 1, in plan order) whose
/// records start with a tag: <c>record</c> (format, sweep fingerprint, run index), one line per row of each
/// per-run file tagged with the file's name, <c>cost</c>, and <c>end</c> with the number of lines before it. It is
/// written to a temporary name, flushed to the disk and renamed, so a record that exists is whole.
/// </remarks>
public sealed class RunRecord
{
    /// <summary>The subfolder of records in a staging or shard folder.</summary>
    public const string Folder = "runs";

    private const string Format = "overlaysim-run-record-1";

    /// <summary>As the result files are written, but lines of different widths in one file.</summary>
    private static CsvWriterOptions RecordOptions => CsvResults.Options with { ValidateFieldCount = false };

    private readonly Dictionary<string, IReadOnlyList<string[]>> _rows;

    private RunRecord(PlannedRun plan, Dictionary<string, IReadOnlyList<string[]>> rows, long events, string traceHash, double wall, double build, double simulate)
    {
        Plan = plan;
        _rows = rows;
        Events = events;
        TraceHash = traceHash;
        WallSeconds = wall;
        BuildSeconds = build;
        SimulateSeconds = simulate;
    }

    public PlannedRun Plan { get; }
    public long Events { get; }
    public string TraceHash { get; }
    public double WallSeconds { get; }
    public double BuildSeconds { get; }
    public double SimulateSeconds { get; }

    /// <summary>The run's rows of a per-run file (whole rows, key and swept columns included).</summary>
    public IReadOnlyList<string[]> Rows(string file) => _rows[file];

    /// <summary>The run's row of runs.csv by column, key and swept columns included.</summary>
    public IReadOnlyDictionary<string, string> RunsRow(Scenario scenario)
    {
        IReadOnlyList<string> header = CsvResults.Header(scenario, CsvResults.Runs);
        string[] row = _rows[CsvResults.Runs.Name][0];
        var byColumn = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < header.Count; i++) byColumn[header[i]] = row[i];
        return byColumn;
    }

    public static RunRecord Of(Scenario scenario, CompletedRun run)
    {
        var rows = new Dictionary<string, IReadOnlyList<string[]>>(StringComparer.Ordinal);
        foreach (CsvResults.PerRunFile file in CsvResults.PerRunFiles) rows[file.Name] = CsvResults.RowsOf(scenario, file, run);
        return new RunRecord(run.Plan, rows, run.Result.Events, CsvResults.Hash(run.Result.TraceHash),
            Math.Round(run.Wall.TotalSeconds, 3), Math.Round(run.BuildWall.TotalSeconds, 3), Math.Round(run.SimulateWall.TotalSeconds, 3));
    }

    /// <summary>The record's file name for run <paramref name="index"/> (from 0): run-000001.csv for the first.</summary>
    public static string FileName(int index) => $"run-{(index + 1).ToString("D6", CultureInfo.InvariantCulture)}.csv";

    /// <summary>Writes the record into <paramref name="folder"/> atomically: a temporary file, flushed to the disk, then renamed.</summary>
    public void Save(string folder, string fingerprint)
    {
        string path = Path.Combine(folder, FileName(Plan.Index));
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using (var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true))
            using (var csv = CsvWriter.Create(writer, RecordOptions))
            {
                int lines = 0;
                void Line(string tag, IEnumerable<string> fields)
                {
                    csv.WriteField(tag);
                    foreach (string f in fields) csv.WriteField(f);
                    csv.EndRecord();
                    lines++;
                }
                Line("record", [Format, fingerprint, Int(Plan.Index + 1)]);
                foreach (CsvResults.PerRunFile file in CsvResults.PerRunFiles)
                    foreach (string[] row in _rows[file.Name]) Line(file.Name, row);
                Line("cost", [Int(Events), TraceHash, Real(WallSeconds), Real(BuildSeconds), Real(SimulateSeconds)]);
                Line("end", [Int(lines)]);
            }
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The largest record file read back: far above a run's rows (its time series is bounded too).</summary>
    public const long MaxBytes = 1L << 30;

    /// <summary>
    /// Reads the record of run <paramref name="index"/> back from <paramref name="folder"/>; null when there is none.
    /// Throws <see cref="ScenarioException"/> naming the file when it is not a whole record of this sweep.
    /// </summary>
    public static RunRecord? Load(string folder, int index, Scenario scenario, IReadOnlyList<PlannedRun> plan, string fingerprint)
    {
        string path = Path.Combine(folder, FileName(index));
        if (!File.Exists(path)) return null;
        InputFile.Check(path, "run record", MaxBytes);
        var at = new Origin(path, 0, 0);
        var rows = new Dictionary<string, List<string[]>>(StringComparer.Ordinal);
        foreach (CsvResults.PerRunFile file in CsvResults.PerRunFiles) rows[file.Name] = [];
        var widths = CsvResults.PerRunFiles.ToDictionary(f => f.Name, f => CsvResults.Header(scenario, f).Count, StringComparer.Ordinal);
        string[]? cost = null;
        bool ended = false;
        int lines = 0;
        try
        {
            using (var reader = new StreamReader(path))
            using (var csv = CsvReader.Create(reader, new CsvReaderOptions { HasHeader = false, Separator = ',', MaxRecordSize = 16 << 20 }, false))
            {
                while (csv.Read())
                {
                    var fields = new string[csv.FieldCount];
                    for (int i = 0; i < fields.Length; i++) fields[i] = csv.GetString(i);
                    var line = new Origin(path, lines + 1, 1);
                    if (ended) throw new ScenarioException(line, "a run record has nothing after its 'end' line");
                    string tag = fields.Length > 0 ? fields[0] : "";
                    string[] rest = fields[1..];
                    if (lines == 0)
                    {
                        if (tag != "record" || rest.Length != 3 || rest[0] != Format)
                            throw new ScenarioException(line, $"is not an OverlaySim run record (expected a first line 'record,{Format},...')");
                        if (rest[1] != fingerprint)
                            throw new ScenarioException(line, "is the record of a run of another sweep (another scenario, overrides or version)");
                        if (rest[2] != Int(index + 1))
                            throw new ScenarioException(line, $"is the record of run {rest[2]}, not of run {index + 1}");
                    }
                    else if (tag == "end")
                    {
                        if (rest.Length != 1 || rest[0] != Int(lines))
                            throw new ScenarioException(line, $"the record's 'end' line expects {(rest.Length == 1 ? rest[0] : "?")} lines before it; there are {lines}");
                        ended = true;
                    }
                    else if (tag == "cost")
                    {
                        if (rest.Length != 5) throw new ScenarioException(line, "a 'cost' line has 5 fields: events, trace hash, wall, build and simulate seconds");
                        cost = rest;
                    }
                    else if (rows.TryGetValue(tag, out List<string[]>? list))
                    {
                        if (rest.Length != widths[tag])
                            throw new ScenarioException(line, $"a row of {tag} has {rest.Length} fields; the sweep's {tag} has {widths[tag]} columns");
                        list.Add(rest);
                    }
                    else throw new ScenarioException(line, $"unknown line tag '{Diagnostic.Clip(tag)}' in a run record");
                    lines++;
                }
            }
        }
        catch (Exception e) when (e is CsvFormatException or IOException)
        {
            throw new ScenarioException(at, $"cannot be read as a run record: {Diagnostic.Clip(e.Message, 300)}");
        }
        if (!ended || cost is null) throw new ScenarioException(at, "the run record is cut short (no 'cost' or 'end' line)");
        if (rows[CsvResults.Runs.Name].Count != 1) throw new ScenarioException(at, "a run record has exactly one row of runs.csv");
        if (!long.TryParse(cost[0], NumberStyles.None, CultureInfo.InvariantCulture, out long events)
            || !double.TryParse(cost[2], NumberStyles.Float, CultureInfo.InvariantCulture, out double wall)
            || !double.TryParse(cost[3], NumberStyles.Float, CultureInfo.InvariantCulture, out double build)
            || !double.TryParse(cost[4], NumberStyles.Float, CultureInfo.InvariantCulture, out double simulate))
            throw new ScenarioException(at, "the record's 'cost' line holds numbers: events, trace hash, wall, build and simulate seconds");
        return new RunRecord(plan[index], rows.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string[]>)kv.Value, StringComparer.Ordinal),
            events, cost[1], wall, build, simulate);
    }

    private static string Int(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Real(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
