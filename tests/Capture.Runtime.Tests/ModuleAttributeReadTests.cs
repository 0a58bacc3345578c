using Capture.Python;

namespace Capture.Runtime.Tests;

// A module's parameters, buffers and submodules read without the AttributeError Python raises and
// catches on the way to nn.Module.__getattr__ (guards walk such chains on every call): every read that
// takes the shortcut gives what getattr gives, and every read it cannot make the same way (a property,
// a class attribute, a method, a custom __getattr__ or __getattribute__, a missing name) is left to getattr.
[Collection("Python")]
public sealed class ModuleAttributeReadTests
{
    [Fact]
    public void ShortcutReadsEqualGetattrAndTheRestAreLeftToIt()
    {
        using var gil = Interpreter.Gil();
        using var ns = Py.Exec("""
            import torch
            class Net(torch.nn.Module):
                scale = 3.0
                def __init__(self):
                    super().__init__()
                    self.fc = torch.nn.Linear(2, 2)
                    self.register_buffer("mask", torch.ones(2))
                    self.register_parameter("absent", None)
                    self.plain = 7
                @property
                def doubled(self):
                    return 2 * self.plain
            class Custom(Net):
                def __getattr__(self, name):  # another function, though it does the same
                    return torch.nn.Module.__getattr__(self, name)
            class Intercepting(Net):
                def __getattribute__(self, name):
                    return object.__getattribute__(self, name)
            net, custom, intercepting = Net(), Custom(), Intercepting()
            net.fc.weight.requires_grad_(False)
            getattr_function = torch.nn.Module.__dict__["__getattr__"]
            """);
        using var getattr = ns.GetItem("getattr_function");
        var dicts = new FallbackDicts(getattr, ["_parameters", "_buffers", "_modules"]);
        using var net = ns.GetItem("net");
        foreach (var name in new[] { "fc", "mask", "absent", "plain", "training" })
        {
            using var fast = net.GetAttrThroughDicts(name, dicts);
            Assert.NotNull(fast);
            using var slow = net.GetAttr(name);
            Assert.True(fast.Is(slow), name);
        }
        using var fc = net.GetAttr("fc");
        using var weight = fc.GetAttrThroughDicts("weight", dicts);
        using var expected = fc.GetAttr("weight");
        Assert.True(weight!.Is(expected));
        // a property, a class attribute, a method, a name found nowhere: not the shortcut's to read
        foreach (var name in new[] { "doubled", "scale", "forward", "missing" })
            Assert.Null(net.GetAttrThroughDicts(name, dicts));
        using var custom = ns.GetItem("custom");
        using var intercepting = ns.GetItem("intercepting");
        Assert.Null(custom.GetAttrThroughDicts("fc", dicts));
        Assert.Null(intercepting.GetAttrThroughDicts("fc", dicts));
        using var plainObject = Py.Int(3);
        Assert.Null(plainObject.GetAttrThroughDicts("real", dicts));
    }
}
