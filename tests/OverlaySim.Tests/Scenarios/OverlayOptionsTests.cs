using OverlaySim.Core;
using OverlaySim.Overlays;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>
/// An overlay's options record is its schema: defaults, ranges and where each parameter takes effect are written once
/// there, and the loader refuses any key that would be ignored in the entry's variant instead of ignoring it.
/// </summary>
public class OverlayOptionsTests
{
    [Fact]
    public void EveryKeyAConvergedRingWouldIgnoreIsAnErrorAtItsPlace()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", """
            nodes: 500
            overlays:
              - chord: { protocol: static, lookup: iterative, stabilize_every: 1s, replicas: 60, successors: 4 }
            """);

        IReadOnlyList<Diagnostic> errors = Yaml.Rejected(path);

        string[] keys = errors.Select(d => d.Message.Split('\'')[1]).ToArray();
        Assert.Equal(["overlays.chord.lookup", "overlays.chord.stabilize_every", "overlays.chord.replicas"], keys);
        Assert.All(errors, d => Assert.Equal(3, d.Origin.Line));
        Assert.All(errors, d => Assert.Contains("this entry has protocol: static", d.Message));
        // replicas takes effect only in the protocol, with stored keys: the message names both conditions.
        Assert.Contains("only with protocol: dynamic, store_keys: true", errors[2].Message);
    }

    [Fact]
    public void AnOverrideOfAKeyThatCannotTakeEffectIsAnErrorOnTheOverride()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", Yaml.Small);

        Diagnostic error = Assert.Single(Yaml.Rejected(path, "overlays.chord.stabilize_every=5s"));

        Assert.Equal("--set overlays.chord.stabilize_every=5s", error.Origin.ToString());
        Assert.Contains("only with protocol: dynamic", error.Message);
    }

    [Fact]
    public void ReplicasDefaultsToTheSuccessorListAndTheManifestRecordsOnlyWhatTakesEffect()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", """
            nodes: 300
            duration: 10min
            overlays:
              - chord: { protocol: dynamic, successors: 5 }
              - chord: { label: ring, successors: 5 }
            """);

        ScenarioPoint p = Assert.Single(ScenarioLoader.Load(path).Points);

        var dynamic = (ChordOptions)p.Overlays[0].Options;
        Assert.Equal((5, 5, true), (dynamic.Successors, dynamic.Replicas, dynamic.IsDynamic));
        var resolved = p.Resolved.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal("5", resolved["overlays.chord.replicas"]);
        Assert.Equal("1min", resolved["overlays.chord.lookup_timeout"]);
        Assert.False(resolved.ContainsKey("overlays.chord.join_over"));   // start: converged
        Assert.False(resolved.ContainsKey("overlays.ring.lookup_timeout")); // the converged ring has no lookup timeout
        Assert.Equal("static", resolved["overlays.ring.protocol"]);
    }

    [Fact]
    public void TheSchemaIsTheRecordDefaultsAndRangesWrittenOnce()
    {
        var defaults = new ChordOptions();
        IReadOnlyList<ParamSpec> specs = OverlayRegistry.Find("chord")!.Parameters;
        ParamSpec stabilize = specs.Single(s => s.Name == "stabilize_every");
        Assert.Equal(ParamKind.Duration, stabilize.Kind);
        Assert.Equal(defaults.StabilizeEvery, (long)stabilize.Default!);
        Assert.Equal([new ParamCondition("protocol", "dynamic")], stabilize.Conditions!);
        ParamSpec lookup = specs.Single(s => s.Name == "lookup");
        Assert.Equal(["recursive", "iterative"], lookup.Choices!);
        Assert.Equal("recursive", lookup.Default);
        // Every parameter's default is the record's initial value (replicas takes the successor list's instead).
        object record = new KademliaOptions();
        foreach (ParamSpec spec in OverlayRegistry.Find("kademlia")!.Parameters)
        {
            var property = typeof(KademliaOptions).GetProperties().Single(pr => OptionsSchema.SnakeCase(pr.Name) == spec.Name);
            object value = property.GetValue(record)!;
            string expected = value is Enum e ? OptionsSchema.SnakeCase(e.ToString()) : Units.Format(spec.Kind, value is int i ? (long)i : value);
            Assert.Equal(expected, spec.DefaultText);
        }
    }

    [Fact]
    public void AValueThatFailsToParseIsReportedOnceNotAgainByTheChecksThatNeedIt()
    {
        using var dir = new TempFolder();
        // A protocol needs the run's duration: a duration that does not parse is one mistake, not two.
        string path = dir.Write("s.yaml", "nodes: 500\nduration: long\noverlays:\n  - chord: { protocol: dynamic }\n");

        Diagnostic error = Assert.Single(Yaml.Rejected(path));

        Assert.Equal(2, error.Origin.Line);
        Assert.Contains("key 'duration'", error.Message);
    }

    [Theory]
    [InlineData("StabilizeEvery", "stabilize_every")]
    [InlineData("K", "k")]
    [InlineData("RpcTimeoutRtts", "rpc_timeout_rtts")]
    [InlineData("VirtualNodes", "virtual_nodes")]
    public void PropertyNamesBecomeSnakeCaseKeys(string property, string key) => Assert.Equal(key, OptionsSchema.SnakeCase(property));
}
