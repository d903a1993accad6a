using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary><c>--set key.path=value</c>: any scalar, the same validation as the file, errors placed on the override.</summary>
public class SetOverrideTests
{
    [Fact]
    public void SetsOverrideTheFileAndTheDefaults()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small);

        ScenarioPoint p = Assert.Single(ScenarioLoader.Load(path,
            ["nodes=4096", "workload.keys=409600", "overlays.chord.successors=4", "workload.popularity=zipf", "latency.delay=25ms", "id_bits=64"]).Points);

        Assert.Equal(4096, p.Nodes);
        Assert.Equal(409600, p.Workload.Keys);
        Assert.Equal(4, p.Overlays[0].Values.Int("successors"));
        Assert.Equal(OverlaySim.Core.Popularity.Zipf, p.Workload.Popularity);
        Assert.Equal(25_000, p.LatencyValues.Duration("delay"));
        Assert.Equal(64, p.IdBits);
        // The file's other values stay, and the resolved record (what the manifest shows) holds the overrides.
        Assert.Equal(1000, p.Workload.Lookups);
        var resolved = p.Resolved.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("4096", resolved["nodes"]);
        Assert.Equal("25ms", resolved["latency.delay"]);
        Assert.Equal("4", resolved["overlays.chord.successors"]);
    }

    [Fact]
    public void ASetReachesAnOverlayGivenWithoutParameters()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", "nodes: 500\noverlays: [chord]\n");

        ScenarioPoint p = Assert.Single(ScenarioLoader.Load(path, ["overlays.chord.successors=3"]).Points);

        Assert.Equal(3, p.Overlays[0].Values.Int("successors"));
    }

    [Theory]
    [InlineData("nodes=0", "key 'nodes'", "out of range")]
    [InlineData("nodes=abc", "key 'nodes'", "expected a whole number")]
    [InlineData("nodes=", "key 'nodes'", "expected a whole number")]
    [InlineData("workload.keys=100000001", "key 'workload.keys'", "out of range")]
    [InlineData("overlays.chord.successors=65", "key 'overlays.chord.successors'", "out of range")]
    [InlineData("latency.delay=10", "key 'latency.delay'", "no unit")]
    [InlineData("workload.popularity=zipff", "key 'workload.popularity'", "did you mean 'zipf'?")]
    [InlineData("nodse=4096", "unknown parameter 'nodse'", "did you mean 'nodes'?")]
    [InlineData("overlays.chord.sucessors=4", "unknown parameter 'overlays.chord.sucessors'", "did you mean 'overlays.chord.successors'?")]
    [InlineData("workload.kyes=5", "unknown parameter 'workload.kyes'", "did you mean 'workload.keys'?")]
    [InlineData("latency.mean=5ms", "unknown parameter 'latency.mean'", "")] // a parameter of another latency model
    [InlineData("nodes", "expected key.path=value", "")]
    [InlineData("=5", "expected key.path=value", "")]
    public void ABadSetIsReportedOnTheOverride(string set, string fragment1, string fragment2)
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small);

        Diagnostic d = Assert.Single(Yaml.Rejected(path, set));

        Assert.Equal($"--set {set}", d.Origin.ToString());
        Assert.Contains(fragment1, d.Message);
        Assert.Contains(fragment2, d.Message);
        Assert.StartsWith($"--set {set}: ", d.ToString());
    }

    [Fact]
    public void SetErrorsComeAfterTheFileErrors()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small.Replace("nodes: 500", "nodes: lots"));

        IReadOnlyList<Diagnostic> ds = Yaml.Rejected(path, "workload.kyes=5");

        Assert.Equal(2, ds.Count);
        Assert.Equal(new Origin(path, 3, 8), ds[0].Origin);
        Assert.Equal("--set workload.kyes=5", ds[1].Origin.ToString());
    }
}
