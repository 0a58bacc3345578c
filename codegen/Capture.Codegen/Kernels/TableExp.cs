namespace Capture.Codegen;

/// <summary>
/// The constants of the table exp both emitters write out (the derivation is beside the C# helper
/// in CSharpEmitter.Vector.cs): one source, so that C#'s vector and scalar exps and LLVM's compute
/// the same bits.
/// </summary>
public static class TableExp
{
    /// <summary>x is clamped here for n only, so that n &gt;&gt; 3 &lt;= 127.</summary>
    public const float Top = 88.67f;

    /// <summary>Below this the result is 0 (float32's normals end at -87.34).</summary>
    public const float Bottom = -87.33f;

    /// <summary>8 log2 e: n = round(8 x log2 e).</summary>
    public const float Log2E8 = 11.5415602f;

    /// <summary>1.5 * 2^23: added and subtracted, it rounds to an integer that stays in t's low mantissa bits.</summary>
    public const float Round = 12582912f;

    /// <summary>ln2/8's high part (13 bits, so that n times it is exact) and the rest.</summary>
    public const float Ln2Over8Hi = 0.086639404296875f;

    public static readonly float Ln2Over8Lo = (float)(Math.Log(2) / 8 - Ln2Over8Hi);

    /// <summary>e^r - 1 = r (1 + r (C2 + r (C3 + r C4))), a minimax fit on |r| &lt;= ln2/16.</summary>
    public const float C2 = 0.50000001f, C3 = 0.16668026f, C4 = 0.04166043f;

    /// <summary>
    /// The table for <paramref name="lanes"/> lanes (8 entries, repeated for 16): entry k is
    /// 2^((k&amp;7)/8)'s bits less (k&amp;7) &lt;&lt; 20, which adding n &lt;&lt; 20 puts back.
    /// </summary>
    public static int[] Entries(int lanes) =>
        [.. Enumerable.Range(0, lanes).Select(k => BitConverter.SingleToInt32Bits((float)Math.Pow(2, (k & 7) / 8.0)) - ((k & 7) << 20))];
}
