using OverlaySim.Core;
using OverlaySim.Scenarios;
using OverlaySim.Tests.Support;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>workload.targets: nodes is for DHTs only; an overlay that searches for replicated items is refused on the key.</summary>
public class WorkloadTargetsTests
{
    [Fact]
    public void NodeTargetsBindForDhts()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", "nodes: 500\nworkload: { lookups: 100, targets: nodes }\noverlays: [chord, kademlia]\n");
        ScenarioPoint p = Assert.Single(ScenarioLoader.Load(path, []).Points);
        Assert.Equal(LookupTargets.Nodes, p.Workload.Targets);
    }

    [Fact]
    public void NodeTargetsAreRefusedForAnOverlayWithoutAPlacementRule()
    {
        using var dir = new TempFolder();
        string path = dir.Write("s.yaml", "nodes: 500\nworkload: { lookups: 100, targets: nodes }\noverlays: [chord, gnutella]\n");
        Diagnostic d = Assert.Single(Yaml.Rejected(path));
        Assert.Equal(new Origin(path, 2, 36), d.Origin);
        Assert.Contains("key 'workload.targets'", d.Message);
        Assert.Contains("'gnutella'", d.Message);
    }
}
