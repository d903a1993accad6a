using FsCheck;
using FsCheck.Fluent;
using OverlaySim.Scenarios;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>The "did you mean" behind every unknown-key message: an edit distance with adjacent transpositions.</summary>
public class SpellingTests
{
    private static readonly Arbitrary<string> Words =
        Gen.Elements('a', 'b', 'c', '_', '.').ArrayOf().Select(cs => new string(cs)).ToArbitrary();

    [Fact]
    public void DistanceIsZeroExactlyForEqualWordsAndSymmetric()
    {
        Prop.ForAll(Words, Words, (a, b) =>
            (Spelling.Distance(a, b) == 0) == (a == b) && Spelling.Distance(a, b) == Spelling.Distance(b, a)
        ).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void DistanceIsBoundedByTheLengths()
    {
        Prop.ForAll(Words, Words, (a, b) =>
        {
            int d = Spelling.Distance(a, b);
            return d >= Math.Abs(a.Length - b.Length) && d <= Math.Max(a.Length, b.Length);
        }).QuickCheckThrowOnFailure();
    }

    [Theory]
    [InlineData("nodes", "nodse", 1)]      // adjacent transposition counts once
    [InlineData("keys", "kyes", 1)]
    [InlineData("successors", "sucessors", 1)]
    [InlineData("chord", "chrod", 1)]
    [InlineData("zipf", "zipff", 1)]
    [InlineData("delay", "dealy", 1)]
    [InlineData("abc", "ca", 3)]            // optimal string alignment, not full Damerau: no edit after a swap
    [InlineData("", "abc", 3)]
    public void WorkedExamples(string a, string b, int expected) => Assert.Equal(expected, Spelling.Distance(a, b));

    [Fact]
    public void TheNearestCloseCandidateIsSuggestedAndAFarOneIsNot()
    {
        string[] keys = ["nodes", "name", "seed", "id_bits", "replicates"];

        Assert.Equal("nodes", Spelling.Suggest("nodse", keys));
        Assert.Equal("replicates", Spelling.Suggest("replicats", keys));
        Assert.Null(Spelling.Suggest("overlays", keys));
        Assert.Equal(" (did you mean 'seed'?)", Spelling.Hint("sede", keys));
        Assert.Equal("", Spelling.Hint("frobnicate", keys));
    }
}
