using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests.Core;

public class NodeTableTests
{
    private static void AssertFlagMatchesMachines(NodeTable t)
    {
        bool identity = true;
        for (int i = 0; i < t.Count; i++) identity &= t.Machine[i] == i;
        Assert.Equal(identity, t.MachineIsOrdinal);
    }

    [Fact]
    public void MachineIsOrdinalHoldsExactlyWhileEveryNodeRunsOnTheMachineOfItsNumber()
    {
        var one = new NodeTable(new Id[4], virtualNodes: 1, spare: 4);
        Assert.True(one.MachineIsOrdinal);
        one.Add(default, 4);                            // the next ordinal on the next machine: still the identity
        AssertFlagMatchesMachines(one);
        Assert.True(one.MachineIsOrdinal);
        one.Add(default, 2);                            // a second node on machine 2
        AssertFlagMatchesMachines(one);
        Assert.False(one.MachineIsOrdinal);
        one.Add(default, 6);                            // back on its own number: the table stays mixed
        Assert.False(one.MachineIsOrdinal);

        var two = new NodeTable(new Id[4], virtualNodes: 2);
        AssertFlagMatchesMachines(two);
        Assert.False(two.MachineIsOrdinal);
    }
}
