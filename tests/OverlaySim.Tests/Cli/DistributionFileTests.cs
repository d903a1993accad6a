using System.Globalization;
using OverlaySim.Output;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Cli;

[Collection("Console")]
public class DistributionFileTests
{
    [Fact]
    public void HopsCsvHoldsChordsPaperHopsDistributionBesideTheHopCounts()
    {
        using var dir = new TempFolder();
        string scenario = dir.Write("s.yaml", """
            name: dist
            seed: 3
            nodes: 3000
            latency: { model: constant, delay: 10ms }
            workload: { lookups: 5000, keys: 1000 }
            overlays: [chord, kademlia]
            """);
        Assert.Equal(0, Cli.Run("run", scenario, "--out", dir["out"], "-q", "--no-figures").ExitCode);
        var runs = CsvTable.Read(Path.Combine(dir["out"], "runs.csv"));
        var hops = CsvTable.Read(Path.Combine(dir["out"], "hops.csv"));
        Assert.Equal(["scenario", "overlay", "nodes", "replicate", "hops", "count", "paper_hops_count"], File.ReadLines(Path.Combine(dir["out"], "hops.csv")).First().Split(','));
        double Num(string s) => double.Parse(s, CultureInfo.InvariantCulture);

        var chord = hops.Where(r => r["overlay"] == "chord").ToList();
        var chordRun = runs.Single(r => r["overlay"] == "chord");
        double answered = Num(chordRun["lookups_ok"]) + Num(chordRun["lookups_wrong"]);
        Assert.Equal(answered, chord.Sum(r => Num(r["paper_hops_count"])));
        Assert.Equal(answered, chord.Sum(r => Num(r["count"])));
        // Its mean is runs.csv's paper_hops_mean (as written, to six decimals), and one less than the hop count's here.
        double paperMean = chord.Sum(r => Num(r["hops"]) * Num(r["paper_hops_count"])) / answered;
        Assert.Equal(Num(chordRun["paper_hops_mean"]), paperMean, 5);
        Assert.True(paperMean < Num(chordRun["hops_mean"]));
        // Kademlia reports no such metric: its column is empty, and its rows are its hop counts only.
        var kademlia = hops.Where(r => r["overlay"] == "kademlia").ToList();
        Assert.NotEmpty(kademlia);
        Assert.All(kademlia, r => Assert.Equal("", r["paper_hops_count"]));
        Assert.All(kademlia, r => Assert.NotEqual("0", r["count"]));
    }
}
