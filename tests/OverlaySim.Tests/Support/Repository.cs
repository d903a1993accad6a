namespace OverlaySim.Tests.Support;

/// <summary>The repository the tests were built from: for tests of its shipped files and of packing the CLI.</summary>
public static class Repository
{
    /// <summary>The folder that holds OverlaySim.sln, found from the test assembly's folder upward.</summary>
    public static string Root
    {
        get
        {
            string? root = AppContext.BaseDirectory;
            while (root is not null && !File.Exists(Path.Combine(root, "OverlaySim.sln"))) root = Path.GetDirectoryName(root);
            return root ?? throw new InvalidOperationException("the tests do not run inside the repository");
        }
    }
}
