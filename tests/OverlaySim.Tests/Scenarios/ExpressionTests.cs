using OverlaySim.Scenarios;
using Xunit;

namespace OverlaySim.Tests.Scenarios;

/// <summary>The expressions of expect: lists: worked examples, and the position of every kind of mistake.</summary>
public class ExpressionTests
{
    private static double Eval(string text, params (string Name, double Value)[] parameters)
    {
        var values = parameters.ToDictionary(p => p.Name, p => p.Value);
        return Expression.Parse(text).Evaluate(n => values[n]);
    }

    [Theory]
    [InlineData("1 + 2 * 3", 7)]
    [InlineData("(1 + 2) * 3", 9)]
    [InlineData("2 ^ 3 ^ 2", 512)]        // right-associative: 2^(3^2)
    [InlineData("-2 ^ 2", -4)]            // a sign binds looser than ^, as in mathematics
    [InlineData("2 ^ -1", 0.5)]
    [InlineData("-(2 + 1) * -2", 6)]
    [InlineData("10 - 4 - 3", 3)]         // left-associative
    [InlineData("8 / 4 / 2", 1)]
    [InlineData("log2(1024)", 10)]
    [InlineData("ln(exp(2))", 2)]
    [InlineData("log10(1000) + sqrt(16) + abs(-1)", 8)]
    [InlineData("pow(2, 10)", 1024)]
    [InlineData("min(3, 1, 2) + max(3, 1, 2)", 4)]
    [InlineData("1.5e2 + .5", 150.5)]
    [InlineData("  7  ", 7)]
    public void WorkedExamples(string text, double expected) => Assert.Equal(expected, Eval(text), 12);

    [Fact]
    public void ParametersAreReadByNameWithDottedPaths()
    {
        Assert.Equal(5, Eval("0.5 * log2(nodes)", ("nodes", 1024)), 12);
        Assert.Equal(46, Eval("4.6 * keys / nodes", ("keys", 10000), ("nodes", 1000)), 12);
        Assert.Equal(0.5, Eval("workload.rate / service_rate", ("workload.rate", 500), ("service_rate", 1000)), 12);
        Expression e = Expression.Parse("a + log2(b) * a");
        Assert.Equal([("a", 0), ("b", 9), ("a", 14)], e.Names);
    }

    [Theory]
    [InlineData("", "the expression is empty", 0)]
    [InlineData("1 +", "the expression ends where a number, a parameter or '(' was expected", 3)]
    [InlineData("(1 + 2", "unclosed '('", 0)]
    [InlineData("1 + 2)", "unexpected ')' (expected an operator + - * / ^ or the end)", 5)]
    [InlineData("2 * * 3", "unexpected '*' (expected a number, a parameter or '(')", 4)]
    [InlineData("log3(8)", "unknown function 'log3'", 0)]
    [InlineData("x + log2", "'log2' is a function: write log2(...)", 4)]
    [InlineData("pow(2)", "pow() takes 2 arguments, not 1", 0)]
    [InlineData("sqrt()", "sqrt() needs one argument", 0)]
    [InlineData("max(1)", "max() takes at least two arguments, not 1", 0)]
    [InlineData("1..2", "'1..2' is not a number", 0)]
    [InlineData("3 # comment", "unexpected '#'", 2)]
    public void MalformedExpressionsSayWhatAndWhere(string text, string message, int offset)
    {
        var e = Assert.Throws<ExpressionException>(() => Expression.Parse(text));
        Assert.StartsWith(message, e.Message);
        Assert.Equal(offset, e.Offset);
    }

    [Fact]
    public void DeepNestingIsRefusedNotAStackOverflow()
    {
        var e = Assert.Throws<ExpressionException>(() => Expression.Parse(new string('(', 200) + "1" + new string(')', 200)));
        Assert.Contains("nests more than 64 levels", e.Message);
    }
}
