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
    /// <summary>The largest RTT a matrix may hold: delays are whole microseconds in 32 bits.</summary>
    public const double MaxRttMs = int.MaxValue / 1000.0;

    public static RttMatrix Load(string path)
    {
        // Rows are checked against the first as they are read, so that a bad file fails at its first bad row
        // rather than after all of it is in memory.
        var rtt = new List<int>();
        int h = 0, rows = 0;
        foreach ((string line, int lineNo) in InputFile.ReadLines(path, "latency matrix file", InputFile.MaxDataBytes, InputFile.MaxMatrixLine))
        {
            string t = line.Trim();
            if (t.Length == 0 || t[0] == '#') continue;
            int count = 0;
            int col = 0;
            while (col < line.Length)
            {
                int separator = col, commas = 0;
                while (col < line.Length && (char.IsWhiteSpace(line[col]) || line[col] == ','))
                    if (line[col++] == ',') commas++;
                // A comma with no value before it, or two with none between: an empty field, which would shift the rest
                // of the row. One trailing comma, as some CSV writers leave, is only the end of the line.
                if (commas > 1 || (commas == 1 && count == 0))
                    throw new ScenarioException(new Origin(path, lineNo, separator + 1), "an empty value between commas (missing measurements must be filled in before use)");
                if (col >= line.Length) break;
                int start = col;
                while (col < line.Length && !char.IsWhiteSpace(line[col]) && line[col] != ',') col++;
                string token = line[start..col];
                if (!double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                    throw new ScenarioException(new Origin(path, lineNo, start + 1), $"'{Diagnostic.Clip(token)}' is not a number (expected an RTT in milliseconds)");
                if (v < 0)
                    throw new ScenarioException(new Origin(path, lineNo, start + 1), $"negative RTT {token} (missing measurements must be filled in before use)");
                if (v > MaxRttMs)
                    throw new ScenarioException(new Origin(path, lineNo, start + 1), $"RTT {Diagnostic.Clip(token)} ms is above the largest supported, {MaxRttMs:0.###} ms");
                if (rows > 0 && count == h)
                    throw new ScenarioException(new Origin(path, lineNo, start + 1), $"row {rows + 1} has more than {h} values; every row needs as many values as the first");
                rtt.Add((int)Math.Round(v * 1000.0));
                count++;
            }
            if (rows == 0) h = count;
            else if (count != h)
                throw new ScenarioException(new Origin(path, lineNo, 1), $"row {rows + 1} has {count} values; a square matrix of {h} rows needs {h}");
            rows++;
            if (rows > h)
                throw new ScenarioException(new Origin(path, lineNo, 1), $"row {rows} is one too many: the rows have {h} values each, so a square matrix has {h} rows");
        }
        if (rows == 0) throw new ScenarioException(new Origin(path, 0, 0), "latency matrix file holds no values");
        if (rows != h)
            throw new ScenarioException(new Origin(path, 0, 0), $"the matrix has {rows} rows of {h} values; a square matrix of {h} hosts needs {h} rows");
        return new RttMatrix(h, rtt.ToArray());
    }
}
