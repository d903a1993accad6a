using System.Globalization;

namespace OverlaySim.Scenarios;

/// <summary>A malformed expression: the message and the offset in its text where the problem is.</summary>
public sealed class ExpressionException(string message, int offset) : Exception(message)
{
    public int Offset { get; } = offset;
}

/// <summary>
/// An arithmetic expression over a run's parameters, as written in a scenario's <c>expect:</c> list:
/// numbers, parameters by name (<c>nodes</c>, <c>keys</c>, <c>id_bits</c>, an overlay's own parameters such as
/// <c>successors</c>, or any full path such as <c>workload.lookups</c>), <c>+ - * / ^</c> (power, right-associative),
/// parentheses, and the functions log2, ln, log10, sqrt, exp, abs, pow(x, y), min(x, y, ...), max(x, y, ...).
/// </summary>
/// <example><c>0.5 * log2(nodes)</c>; <c>4.6 * keys / nodes</c>; <c>pow(nodes, 1/2)</c>.</example>
public sealed class Expression
{
    private readonly Node _root;

    private Expression(string text, Node root, IReadOnlyList<(string Name, int Offset)> names)
    {
        Text = text;
        _root = root;
        Names = names;
    }

    /// <summary>The expression as written.</summary>
    public string Text { get; }

    /// <summary>Every parameter name it reads, with its offset in <see cref="Text"/>.</summary>
    public IReadOnlyList<(string Name, int Offset)> Names { get; }

    /// <summary>Its value, reading parameters through <paramref name="parameter"/> (every name must resolve: see <see cref="Names"/>).</summary>
    public double Evaluate(Func<string, double> parameter) => _root.Eval(parameter);

    public override string ToString() => Text;

    /// <summary>The functions an expression may call, with their number of arguments (-1: two or more).</summary>
    public static readonly IReadOnlyDictionary<string, int> Functions = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["log2"] = 1, ["ln"] = 1, ["log10"] = 1, ["sqrt"] = 1, ["exp"] = 1, ["abs"] = 1, ["pow"] = 2, ["min"] = -1, ["max"] = -1,
    };

    /// <summary>Parses <paramref name="text"/>; throws <see cref="ExpressionException"/> at the first problem.</summary>
    public static Expression Parse(string text)
    {
        if (text.Length > 1000) throw new ExpressionException("the expression is longer than 1,000 characters", 0);
        var p = new ExprParser(text);
        Node root = p.ParseAll();
        return new Expression(text, root, p.Names);
    }

    // ---- the tree ----------------------------------------------------------------------------------------------

    private abstract class Node
    {
        public abstract double Eval(Func<string, double> parameter);
    }

    private sealed class Number(double value) : Node
    {
        public override double Eval(Func<string, double> parameter) => value;
    }

    private sealed class Name(string name) : Node
    {
        public override double Eval(Func<string, double> parameter) => parameter(name);
    }

    private sealed class Unary(Node operand) : Node
    {
        public override double Eval(Func<string, double> parameter) => -operand.Eval(parameter);
    }

    private sealed class Binary(char op, Node left, Node right) : Node
    {
        public override double Eval(Func<string, double> parameter)
        {
            double a = left.Eval(parameter), b = right.Eval(parameter);
            return op switch
            {
                '+' => a + b,
                '-' => a - b,
                '*' => a * b,
                '/' => a / b,
                _ => Math.Pow(a, b),
            };
        }
    }

    private sealed class Call(string function, Node[] args) : Node
    {
        public override double Eval(Func<string, double> parameter)
        {
            double[] v = args.Select(a => a.Eval(parameter)).ToArray();
            return function switch
            {
                "log2" => Math.Log2(v[0]),
                "ln" => Math.Log(v[0]),
                "log10" => Math.Log10(v[0]),
                "sqrt" => Math.Sqrt(v[0]),
                "exp" => Math.Exp(v[0]),
                "abs" => Math.Abs(v[0]),
                "pow" => Math.Pow(v[0], v[1]),
                "min" => v.Min(),
                _ => v.Max(),
            };
        }
    }

    // ---- recursive descent ------------------------------------------------------------------------------------

    private sealed class ExprParser(string text)
    {
        private int _at;
        private int _depth;

        public List<(string, int)> Names { get; } = [];

        public Node ParseAll()
        {
            Skip();
            if (_at == text.Length) throw new ExpressionException("the expression is empty", 0);
            Node n = Sum();
            Skip();
            if (_at < text.Length) throw new ExpressionException($"unexpected '{text[_at]}' (expected an operator + - * / ^ or the end)", _at);
            return n;
        }

        private Node Sum()
        {
            Node n = Product();
            while (true)
            {
                Skip();
                if (_at < text.Length && text[_at] is '+' or '-')
                {
                    char op = text[_at++];
                    n = new Binary(op, n, Product());
                }
                else return n;
            }
        }

        private Node Product()
        {
            Node n = Signed();
            while (true)
            {
                Skip();
                if (_at < text.Length && text[_at] is '*' or '/')
                {
                    char op = text[_at++];
                    n = new Binary(op, n, Signed());
                }
                else return n;
            }
        }

        private Node Power()
        {
            Node n = Primary();
            Skip();
            if (_at < text.Length && text[_at] == '^')
            {
                _at++;
                return new Binary('^', n, Signed()); // right-associative, and 2 ^ -1 is allowed
            }
            return n;
        }

        /// <summary>A sign binds looser than ^, as in mathematics: -2 ^ 2 is -(2 ^ 2).</summary>
        private Node Signed()
        {
            Skip();
            if (_at < text.Length && text[_at] == '-')
            {
                _at++;
                return new Unary(Signed());
            }
            if (_at < text.Length && text[_at] == '+') _at++;
            return Power();
        }

        private Node Primary()
        {
            Skip();
            if (++_depth > 64) throw new ExpressionException("the expression nests more than 64 levels deep", _at);
            try
            {
                if (_at == text.Length) throw new ExpressionException("the expression ends where a number, a parameter or '(' was expected", _at);
                char c = text[_at];
                if (c == '(')
                {
                    int open = _at++;
                    Node n = Sum();
                    Skip();
                    if (_at == text.Length || text[_at] != ')') throw new ExpressionException("unclosed '('", open);
                    _at++;
                    return n;
                }
                if (char.IsAsciiDigit(c) || c == '.') return NumberLiteral();
                if (char.IsAsciiLetter(c) || c == '_') return NameOrCall();
                throw new ExpressionException($"unexpected '{c}' (expected a number, a parameter or '(')", _at);
            }
            finally
            {
                _depth--;
            }
        }

        private Node NumberLiteral()
        {
            int start = _at;
            while (_at < text.Length && (char.IsAsciiDigit(text[_at]) || text[_at] == '.')) _at++;
            if (_at < text.Length && text[_at] is 'e' or 'E')
            {
                int mark = _at++;
                if (_at < text.Length && text[_at] is '+' or '-') _at++;
                if (_at == text.Length || !char.IsAsciiDigit(text[_at])) _at = mark; // not an exponent after all
                else while (_at < text.Length && char.IsAsciiDigit(text[_at])) _at++;
            }
            string s = text[start.._at];
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw new ExpressionException($"'{s}' is not a number", start);
            return new Number(v);
        }

        private Node NameOrCall()
        {
            int start = _at;
            while (_at < text.Length && (char.IsAsciiLetterOrDigit(text[_at]) || text[_at] is '_' or '.')) _at++;
            string name = text[start.._at];
            Skip();
            if (_at < text.Length && text[_at] == '(')
            {
                if (!Functions.TryGetValue(name, out int arity))
                    throw new ExpressionException($"unknown function '{name}' (expected one of {string.Join(", ", Functions.Keys)})", start);
                _at++;
                var args = new List<Node>();
                Skip();
                if (_at < text.Length && text[_at] == ')') throw new ExpressionException($"{name}() needs {(arity < 0 ? "at least two arguments" : arity == 1 ? "one argument" : $"{arity} arguments")}", start);
                while (true)
                {
                    args.Add(Sum());
                    Skip();
                    if (_at < text.Length && text[_at] == ',') { _at++; continue; }
                    if (_at < text.Length && text[_at] == ')') { _at++; break; }
                    throw new ExpressionException($"unclosed '(' of {name}(", start);
                }
                if (arity > 0 && args.Count != arity || arity < 0 && args.Count < 2)
                    throw new ExpressionException($"{name}() takes {(arity < 0 ? "at least two arguments" : arity == 1 ? "one argument" : $"{arity} arguments")}, not {args.Count}", start);
                return new Call(name, [.. args]);
            }
            if (Functions.ContainsKey(name)) throw new ExpressionException($"'{name}' is a function: write {name}(...)", start);
            Names.Add((name, start));
            return new Name(name);
        }

        private void Skip()
        {
            while (_at < text.Length && text[_at] is ' ' or '\t') _at++;
        }
    }
}
