using CsvHelper;

namespace OverlaySim.Output;

/// <summary>Reads one of the result files back (runs.csv, summary.csv, hops.csv ...): its rows by column name.</summary>
public static class CsvTable
{
    /// <summary>The rows of the CSV file at <paramref name="path"/>, at most <paramref name="maxRows"/> of them, each by header.</summary>
    public static List<Dictionary<string, string>> Read(string path, int maxRows = int.MaxValue) => Read(path, _ => true, maxRows);

    /// <summary>The rows <paramref name="keep"/> accepts, read one at a time (a large file is never held whole).</summary>
    public static List<Dictionary<string, string>> Read(string path, Func<Dictionary<string, string>, bool> keep, int maxRows = int.MaxValue)
    {
        var rows = new List<Dictionary<string, string>>();
        using var reader = new StreamReader(path);
        using var csv = CsvReader.Create(reader, new CsvReaderOptions { Separator = ',' }, false);
        csv.ReadHeader();
        IReadOnlyList<string> header = csv.Headers;
        while (rows.Count < maxRows && csv.Read())
        {
            var row = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < header.Count && i < csv.FieldCount; i++) row[header[i]] = csv.GetString(i);
            if (keep(row)) rows.Add(row);
        }
        return rows;
    }
}
