namespace Capture.Graphs;

/// <summary>
/// Computes the values of a graph without placeholders whose output is a tuple of tensors (the
/// constant subgraphs constant folding found). The runtime implements it on torch, so a folded
/// value is exactly what eager torch computes.
/// </summary>
public interface IConstantEvaluator
{
    IReadOnlyList<TensorData> Evaluate(Graph graph);
}
