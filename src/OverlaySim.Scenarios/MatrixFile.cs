using System.Globalization;

namespace OverlaySim.Scenarios;

/// <summary>A square RTT matrix read from a file, in microseconds.</summary>
public sealed record RttMatrix(int Hosts, int[] RttMicros);

/// <summary>
/// Reads an RTT matrix: H non-empty lines of H values each, separated by whitespace or commas, in
/// milliseconds. Lines starting with '#' are comments. Values must be finite and not negative; the file must be
/// square. Every problem is reported as FILE:LINE:COL.
/// </summary>
public static class MatrixFile
{
    public static RttMatrix Load(string path)
    {
        if (!File.Exists(path))
            throw new ScenarioException(new Origin(path, 0, 0), "latency matrix file not found");
        var rows = new List<double[]>();
        var rowLines = new List<int>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(path))
        {
            lineNo++;
            string t = line.Trim();
            if (t.Length == 0 || t[0] == '#') continue;
            var values = new List<double>();
            int col = 0;
            while (col < line.Length)
            {
                while (col < line.Length && (char.IsWhiteSpace(line[col]) || line[col] == ',')) col++;
                if (col >= line.Length) break;
                int start = col;
                while (col < line.Length && !char.IsWhiteSpace(line[col]) && line[col] != ',') col++;
                string token = line[start..col];
                if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                    throw new ScenarioException(new Origin(path, lineNo, start + 1), $"'{token}' is not a number (expected an RTT in milliseconds)");
                if (v < 0)
                    throw new ScenarioException(new Origin(path, lineNo, start + 1), $"negative RTT {token} (missing measurements must be filled in before use)");
                values.Add(v);
            }
            rows.Add(values.ToArray());
            rowLines.Add(lineNo);
        }
        int h = rows.Count;
        if (h == 0) throw new ScenarioException(new Origin(path, 0, 0), "latency matrix file holds no values");
        for (int i = 0; i < h; i++)
            if (rows[i].Length != h)
                throw new ScenarioException(new Origin(path, rowLines[i], 1), $"row {i + 1} has {rows[i].Length} values; a square matrix of {h} rows needs {h}");
        var rtt = new int[h * h];
        for (int i = 0; i < h; i++)
            for (int j = 0; j < h; j++)
                rtt[i * h + j] = (int)Math.Min(int.MaxValue, Math.Round(rows[i][j] * 1000.0));
        return new RttMatrix(h, rtt);
    }
}
