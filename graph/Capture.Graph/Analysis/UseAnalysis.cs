namespace Capture.Graphs;

/// <summary>Who uses each node's value (derived from the graph, never stored on nodes).</summary>
public sealed class UseAnalysis
{
    private readonly Dictionary<string, List<string>> _users;

    private UseAnalysis(Dictionary<string, List<string>> users) => _users = users;

    public static UseAnalysis Of(Graph graph)
    {
        var users = graph.Nodes.ToDictionary(n => n.Name, _ => new List<string>());
        foreach (var node in graph.Nodes)
            foreach (var input in node.Inputs.Distinct())
                if (users.TryGetValue(input, out var list)) list.Add(node.Name);
        return new UseAnalysis(users);
    }

    /// <summary>The nodes reading <paramref name="name"/>, in graph order, each once.</summary>
    public IReadOnlyList<string> Users(string name) => _users.TryGetValue(name, out var u) ? u : [];

    public int UseCount(string name) => Users(name).Count;

    public bool IsDead(string name) => UseCount(name) == 0;
}
