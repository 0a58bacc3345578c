namespace Capture.Graphs.Tests;


public sealed class TextFormatTests
{
    internal const string Mlp = """
        def forward(self, x: "f32[8, 16]", w1: "f32[32, 16]", b1: "f32[32]", w2: "f32[4, 32]"):
            linear: "f32[8, 32]" = torch.nn.functional.linear(x, w1, b1)  # mlp.py:12:15
            gelu: "f32[8, 32]" = torch.nn.functional.gelu(linear, approximate='tanh')  # mlp.py:12:11
            t: "f32[32, 4]{1, 32}" = w2.t()
            matmul: "f32[8, 4]" = torch.matmul(gelu, t)
            view: "f32[2, 16]" = matmul.view(2, -1)
            getitem: "f32[2, 1, 8]{16, 16, 2}" = operator.getitem(view, (slice(None, None, None), None, slice(0, None, 2)))
            sum_1: "f32[2]" = torch.sum(getitem, [-1, 1], dtype=torch.float32)
            max_1: "(f32[], i64[])" = torch.max(sum_1, 0)
            return (sum_1, max_1, 2.5, float('inf'), None)
        """;

    internal const string Control = """
        def forward(self, x: "f32[4]", n: "i64[]"):
            gt: "b8[]" = torch.gt(n, 0)
            def cond_true(self, x: "f32[4]"):
                neg: "f32[4]" = torch.neg(x)
                return neg
            def cond_false(self, x: "f32[4]"):
                relu: "f32[4]" = torch.relu(x)
                return relu
            cond: "f32[4]" = capture.cond(gt, cond_true, cond_false, (x,))
            def while_loop_cond(self, i: "i64[]", acc: "f32[4]"):
                lt: "b8[]" = torch.lt(i, 3)
                return lt
            def while_loop_body(self, i: "i64[]", acc: "f32[4]"):
                add: "i64[]" = torch.add(i, 1)
                mul: "f32[4]" = torch.mul(acc, 2)
                return (add, mul)
            while_loop: "(i64[], f32[4])" = capture.while_loop(while_loop_cond, while_loop_body, (n, cond))
            return while_loop
        """;

    [Theory]
    [InlineData(Mlp)]
    [InlineData(Control)]
    public void PrintOfParseIsTheSameText(string text)
    {
        var graph = CodeParser.Parse(text);
        Assert.Empty(Verifier.Verify(graph));
        Assert.Equal(text.Replace("\r", "") + "\n", CodePrinter.Print(graph).Replace("def cond_true", "def cond_true").Replace("\r", ""));
    }

    [Fact]
    public void ParseRecordsSourcesMetadataAndCallForms()
    {
        var graph = CodeParser.Parse(Mlp);
        var gelu = (CallOp)graph["gelu"];
        Assert.Equal(new SourceLocation("mlp.py", 12, 11), gelu.Source);
        Assert.Equal("call_function", gelu.OpCode);
        Assert.Equal("call_method", graph["t"].OpCode);
        Assert.Equal(Ops.T, ((CallOp)graph["t"]).Op);
        var getitem = (TensorMeta)graph["getitem"].Meta;
        Assert.Equal([16L, 16, 2], getitem.Strides);
        Assert.Equal(4, graph.Placeholders.Count());
        Assert.IsType<TupleMeta>(graph.Output.Meta);
    }

    [Fact]
    public void AnnotationThatDisagreesWithTheRuleIsALineError()
    {
        var e = Assert.Throws<FormatException>(() => CodeParser.Parse("""
            def forward(self, x: "f32[2, 3]"):
                y: "f32[3, 2]" = torch.exp(x)
                return y
            """));
        Assert.Equal("line 2: annotation \"f32[3, 2]\" disagrees with the shape rule's \"f32[2, 3]\"", e.Message);
    }

    [Theory]
    [InlineData("def forward(self, x: \"f32[2]\"):\n    y = torch.add(x, z)\n    return y\n", "line 2: 'z' is not defined")]
    [InlineData("def forward(self, x: \"f32[2]\"):\n    y = x.frobnicate()\n    return y\n", "line 2: unknown Tensor method 'frobnicate'")]
    [InlineData("def forward(self, x: \"f32[2]\"):\n    y = torch.add(x, x\n    return y\n", "line 2: expected ','")]
    [InlineData("def forward(self, x: \"q9[2]\"):\n    return x\n", "line 1: bad metadata \"q9[2]\"")]
    [InlineData("def forward(self, x: \"f32[2]\"):\n    y = torch.matmul(x, x)\n", "line 1: def forward has no return")]
    [InlineData("def forward(self, x: \"f32[2]\"):\n    y = torch.mm(x, x)\n    return y\n", "line 2: torch.mm: self must be a matrix, got 1-D")]
    [InlineData("def forward(self, x: \"f32[2]\"):\n    y = torch.special.i0(x)\n    return y\n", "line 2: opaque op torch.special.i0 needs a metadata annotation")]
    public void BadTextIsALineError(string text, string message)
    {
        var e = Assert.Throws<FormatException>(() => CodeParser.Parse(text));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void OpaqueCallsKeepTheirAnnotatedMetadata()
    {
        var graph = CodeParser.Parse("def forward(self, x: \"f32[2]\"):\n    y: \"f32[2]\" = torch.special.i0(x)\n    return y\n");
        var call = (CallOp)graph["y"];
        Assert.Equal(OpCategory.Opaque, call.Op.Category);
        Assert.Empty(Verifier.Verify(graph));
    }

    [Fact]
    public void GraphsCompareUpToRenaming()
    {
        var a = CodeParser.Parse("def forward(self, x: \"f32[2]\"):\n    y = torch.exp(x)\n    z = torch.add(y, x)\n    return z\n");
        var b = CodeParser.Parse("def forward(self, inp: \"f32[2]\"):\n    e = torch.exp(inp)\n    s = torch.add(e, inp)\n    return s\n");
        var c = CodeParser.Parse("def forward(self, inp: \"f32[2]\"):\n    e = torch.exp(inp)\n    s = torch.add(inp, e)\n    return s\n");
        Assert.NotEqual(a, b);
        Assert.True(a.EquivalentTo(b));
        Assert.False(a.EquivalentTo(c)); // argument order matters
    }

    [Fact]
    public void ModuleAttributesAndCallsRoundTrip()
    {
        const string text = """
            def forward(self, x: "f32[2, 4]"):
                fc_weight: "f32[3, 4]" = self.fc.weight
                layers_0: "f32[2, 4]" = operator.attrgetter('layers.0')(self)(x)
                linear: "f32[2, 3]" = torch.nn.functional.linear(layers_0, fc_weight)
                return linear
            """;
        var graph = CodeParser.Parse(text);
        Assert.Equal("get_attr", graph["fc_weight"].OpCode);
        Assert.Equal("layers.0", ((CallModule)graph["layers_0"]).Target);
        Assert.Equal(text + "\n", CodePrinter.Print(graph));
    }

    [Fact]
    public void BuilderNamesFollowFx()
    {
        var b = new GraphBuilder();
        var x = b.Placeholder("x", TensorMeta.Contiguous(new Shape(2L), DType.Float32));
        var a1 = b.Call(Ops.Add, x, x);
        var a2 = b.Call(Ops.Add, a1, x);
        var m = b.Call(Ops.View, [a2, 2L, 1L], method: true);
        var g = b.Output(m);
        Assert.Equal(["x", "add", "add_1", "view", "output"], g.Nodes.Select(n => n.Name));
    }
}
