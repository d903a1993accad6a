using System.Globalization;
using OverlaySim.Core;

namespace OverlaySim.Scenarios;

/// <summary>
/// Reads a churn trace: CSV lines <c>time, node, event</c>, where time is in seconds (<c>12.5</c>) or carries a
/// unit (<c>90s</c>, <c>2min</c>), node is a machine index (0-based; indices at or past the scenario's node count
/// add machines), and event is <c>join</c>, <c>leave</c> or <c>crash</c>. An optional header line starting with
/// "time", blank lines and '#' comments are skipped. Times must not decrease; machine indices are below
/// <see cref="Schema.MaxNodes"/>. Problems are reported as FILE:LINE:COL.
/// </summary>
public static class TraceFile
{
    public static IReadOnlyList<ChurnTraceEvent> Load(string path)
    {
        var events = new List<ChurnTraceEvent>();
        long last = 0;
        foreach ((string line, int lineNo) in InputFile.ReadLines(path, "churn trace file", InputFile.MaxDataBytes, InputFile.MaxTraceLine))
        {
            string t = line.Trim();
            if (t.Length == 0 || t[0] == '#' || (events.Count == 0 && t.StartsWith("time", StringComparison.OrdinalIgnoreCase))) continue;
            string[] fields = line.Split(',');
            if (fields.Length != 3)
                throw new ScenarioException(new Origin(path, lineNo, 1), $"expected 3 fields 'time, node, event', found {fields.Length}");
            // Columns of the values themselves (past any blanks after the comma), as the YAML and matrix errors point.
            int col1 = 1 + Leading(fields[0]), col2 = fields[0].Length + 2 + Leading(fields[1]), col3 = fields[0].Length + fields[1].Length + 3 + Leading(fields[2]);
            string time = fields[0].Trim(), node = fields[1].Trim(), ev = fields[2].Trim();

            long micros;
            if (double.TryParse(time, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds))
            {
                if (!double.IsFinite(seconds) || seconds < 0)
                    throw new ScenarioException(new Origin(path, lineNo, col1), $"time '{Diagnostic.Clip(time)}' must be a finite number of seconds >= 0");
                micros = (long)Math.Round(seconds * 1e6);
            }
            else if (!Units.TryParseDuration(time, out micros, out string? error) || micros < 0)
                throw new ScenarioException(new Origin(path, lineNo, col1), $"time: {error ?? "must not be negative"}");
            if (micros < last)
                throw new ScenarioException(new Origin(path, lineNo, col1), $"time {time} goes back in time (the previous line is later); sort the trace by time");
            last = micros;

            if (!int.TryParse(node, NumberStyles.None, CultureInfo.InvariantCulture, out int machine))
                throw new ScenarioException(new Origin(path, lineNo, col2), $"node '{Diagnostic.Clip(node)}' is not a machine index (expected a whole number >= 0)");
            // Indices past the scenario's machines add machines up to them: bounded like 'nodes', or a stray large
            // index would make the run try to create billions of machines.
            if (machine >= Schema.MaxNodes)
                throw new ScenarioException(new Origin(path, lineNo, col2), $"node {machine} is out of range (expected a machine index in 0..{Schema.MaxNodes - 1})");

            ChurnAction action = ev switch
            {
                "join" => ChurnAction.Join,
                "leave" => ChurnAction.Leave,
                "crash" => ChurnAction.Crash,
                _ => throw new ScenarioException(new Origin(path, lineNo, col3), $"event '{Diagnostic.Clip(ev)}' is not join, leave or crash"),
            };
            events.Add(new ChurnTraceEvent(micros, machine, action));
        }
        return events;
    }

    private static int Leading(string field) => field.Length - field.TrimStart().Length;
}
