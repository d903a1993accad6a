using OverlaySim.Core;
using Xunit;

namespace OverlaySim.Tests;

public class SmokeTests
{
    [Fact]
    public void IdSpaceMasksToItsWidth()
    {
        var space = new IdSpace(8);
        Assert.Equal(Id.FromUInt64(4), space.Add(Id.FromUInt64(250), Id.FromUInt64(10)));
    }
}
