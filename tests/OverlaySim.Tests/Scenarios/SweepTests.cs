using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Runner = OverlaySim.Scenarios.Runner;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>Sweeps: the cartesian product with the first swept key varying slowest, and the runs planned from it.</summary>
public class SweepTests
{
    [Fact]
    public void PointsAreTheCartesianProductWithTheFirstKeySlowest()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small + """

            sweep:
              nodes: [200, 300]
              workload.keys: [100, 200, 300]
            """);

        Scenario s = ScenarioLoader.Load(path);

        Assert.Equal(["nodes", "workload.keys"], s.SweptPaths);
        (int, int)[] expected = [(200, 100), (200, 200), (200, 300), (300, 100), (300, 200), (300, 300)];
        Assert.Equal(expected, s.Points.Select(p => (p.Nodes, p.Workload.Keys)).ToArray());
        Assert.All(s.Points, p => Assert.Equal(["nodes", "workload.keys"], p.Swept.Select(kv => kv.Key)));
        Assert.Equal(["300", "200"], s.Points[4].Swept.Select(kv => kv.Value));
        // What is not swept keeps its file value at every point.
        Assert.All(s.Points, p => Assert.Equal(1000, p.Workload.Lookups));
    }

    [Fact]
    public void RunsArePlannedByPointThenOverlayThenReplicate()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", """
            nodes: 200
            replicates: 2
            workload: { lookups: 100, keys: 100 }
            overlays:
              - chord: { label: wide, successors: 8 }
              - chord: { label: narrow, successors: 2 }
            sweep:
              nodes: [200, 300]
            """);

        IReadOnlyList<PlannedRun> runs = Runner.Plan(ScenarioLoader.Load(path));

        (int, string, int)[] expected =
        [
            (200, "wide", 0), (200, "wide", 1), (200, "narrow", 0), (200, "narrow", 1),
            (300, "wide", 0), (300, "wide", 1), (300, "narrow", 0), (300, "narrow", 1),
        ];
        Assert.Equal(expected, runs.Select(r => (r.Point.Nodes, r.Overlay.Label, r.Replicate)).ToArray());
        Assert.Equal(Enumerable.Range(0, 8), runs.Select(r => r.Index));
        Assert.Equal(2, runs.First(r => r.Overlay.Label == "narrow").Overlay.Values.Int("successors"));
    }

    /// <summary>
    /// For any sizes of up to three swept lists, the points are exactly the product in odometer order,
    /// computed here independently as "index i of the point = mixed-radix digits of i, last key fastest".
    /// </summary>
    [Fact]
    public void AnySweepExpandsInOdometerOrder()
    {
        string[] paths = ["nodes", "workload.keys", "overlays.chord.successors"];
        int[] bases = [200, 100, 1];
        using var dir = new TempFolder();
        int file = 0;

        Prop.ForAll(Gen.Choose(1, 3).ArrayOf().Where(a => a.Length is >= 1 and <= 3).ToArbitrary(), sizes =>
        {
            var lines = new List<string> { "nodes: 500", "workload: { lookups: 10, keys: 50 }", "overlays: [chord]", "sweep:" };
            for (int k = 0; k < sizes.Length; k++)
                lines.Add($"  {paths[k]}: [{string.Join(", ", Enumerable.Range(1, sizes[k]).Select(v => bases[k] + v))}]");
            string path = dir.Write($"p{file++}.yaml", string.Join("\n", lines) + "\n");

            Scenario s = ScenarioLoader.Load(path);

            int total = sizes.Aggregate(1, (a, b) => a * b);
            if (s.Points.Count != total) return false;
            for (int i = 0; i < total; i++)
            {
                int rest = i;
                var digits = new int[sizes.Length];
                for (int k = sizes.Length - 1; k >= 0; k--)
                {
                    digits[k] = rest % sizes[k];
                    rest /= sizes[k];
                }
                for (int k = 0; k < sizes.Length; k++)
                {
                    long expected = bases[k] + digits[k] + 1;
                    if (s.Points[i].Swept[k].Key != paths[k] || s.Points[i].Swept[k].Value != expected.ToString()) return false;
                }
                ScenarioPoint p = s.Points[i];
                long[] actual = [p.Nodes, p.Workload.Keys, p.Overlays[0].Values.Int("successors")];
                for (int k = 0; k < sizes.Length; k++)
                    if (actual[k] != bases[k] + digits[k] + 1) return false;
            }
            return true;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void ASetOfASweptPathFixesItAndRemovesItFromTheSweep()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small + """

            sweep:
              nodes: [200, 300]
              workload.keys: [100, 200]
            """);

        Scenario s = ScenarioLoader.Load(path, ["nodes=250"]);

        Assert.Equal(["workload.keys"], s.SweptPaths);
        Assert.Equal([(250, 100), (250, 200)], s.Points.Select(p => (p.Nodes, p.Workload.Keys)).ToArray());
    }

    [Fact]
    public void AnUnknownSweptPathIsReportedOnceAtItsKey()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small + """

            sweep:
              nodes: [200, 300]
              workload.kyes: [100, 200, 300]
            """);

        Diagnostic d = Assert.Single(Yaml.Rejected(path));

        Assert.Equal(new Origin(path, 10, 3), d.Origin);
        Assert.Contains("unknown parameter 'workload.kyes'", d.Message);
        Assert.Contains("did you mean 'workload.keys'?", d.Message);
    }

    [Fact]
    public void ABadValueInASweepIsReportedAtThatValueOnly()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small + """

            sweep:
              workload.keys: [100, 0, 300]
              nodes: [200, 300]
            """);

        Diagnostic d = Assert.Single(Yaml.Rejected(path));

        Assert.Equal(new Origin(path, 9, 24), d.Origin);
        Assert.Contains("key 'workload.keys'", d.Message);
        Assert.Contains("out of range", d.Message);
    }
}
