using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>
/// Latency matrix files: H lines of H non-negative numbers in milliseconds, '#' comments, whitespace or
/// commas. A bad file is reported at the position in the matrix file, and the scenario says where it named it.
/// </summary>
public class MatrixFileTests
{
    private const string Scenario = """
        nodes: 200
        workload: { lookups: 500, keys: 100 }
        latency:
          model: matrix
          file: rtt.txt
        overlays: [chord]
        """;

    [Fact]
    public void AGoodMatrixIsReadInMicroseconds()
    {
        using var dir = new TempFolder();
        dir.Write("rtt.txt", "# three hosts\n0, 10, 20.5\n\n10 0 30\n20.5\t30\t0\n");
        string path = dir.Write("s.yaml", Scenario);

        RttMatrix m = Assert.Single(ScenarioLoader.Load(path).Points).Matrix!;

        Assert.Equal(3, m.Hosts);
        Assert.Equal([0, 10_000, 20_500, 10_000, 0, 30_000, 20_500, 30_000, 0], m.RttMicros);
    }

    [Theory]
    // contents, line, column in the matrix file, fragment
    [InlineData("0 10 20\n10 0\n20 30 0\n", 2, 1, "row 2 has 2 values")]          // a short row
    [InlineData("0 10 20\n10 0 30 40\n20 30 0\n", 2, 9, "row 2 has more than 3 values")] // a long row, at its first extra value
    [InlineData("0 10\n10 0\n20 30\n", 3, 1, "row 3 is one too many")]           // more rows than columns, at the first extra row
    [InlineData("0 10 20\n10 0 30\n", 0, 0, "has 2 rows of 3 values")]           // fewer rows than columns
    [InlineData("0 2147484\n2147484 0\n", 1, 3, "RTT 2147484 ms is above the largest supported")] // would not fit in 32-bit µs
    [InlineData("0 10 20\n10 x 30\n20 30 0\n", 2, 4, "'x' is not a number")]
    [InlineData("0 10\n10 NaN\n", 2, 4, "'NaN' is not a number")]
    [InlineData("# comment\n0, 10, 20\n10, 0, -3\n20, 30, 0\n", 3, 8, "negative RTT -3")]
    [InlineData("0,,20\n10,0,30\n20,30,0\n", 1, 2, "an empty value between commas")] // not a short row 1 and a long row 2
    [InlineData("0,10,20\n10,,0,30\n20,30,0\n", 2, 3, "an empty value between commas")]
    public void ABadMatrixIsReportedWhereItIsInTheMatrixFile(string contents, int line, int column, string fragment)
    {
        using var dir = new TempFolder();
        string matrix = dir.Write("rtt.txt", contents);
        string path = dir.Write("s.yaml", Scenario);

        Diagnostic d = Assert.Single(Yaml.Rejected(path));

        Assert.Equal(new Origin(matrix, line, column), d.Origin);
        Assert.Contains(fragment, d.Message);
        Assert.Contains($"latency matrix named at {path}:5:9", d.Message);
    }

    [Fact]
    public void AMatrixWithoutValuesIsRejected()
    {
        using var dir = new TempFolder();
        string matrix = dir.Write("rtt.txt", "# nothing measured yet\n\n");
        string path = dir.Write("s.yaml", Scenario);

        Diagnostic d = Assert.Single(Yaml.Rejected(path));

        Assert.Equal(matrix, d.Origin.File);
        Assert.Contains("holds no values", d.Message);
    }

    [Fact]
    public void TheMatrixFileIsFoundRelativeToTheScenarioNotTheWorkingDirectory()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["data"]);
        dir.Write("data/rtt.txt", "0 1\n1 0\n");
        string path = dir.Write("s.yaml", Scenario.Replace("file: rtt.txt", "file: data/rtt.txt"));

        Assert.Equal(2, Assert.Single(ScenarioLoader.Load(path).Points).Matrix!.Hosts);
    }
}
