using Geodesy.Core.Data;
using Geodesy.Experiments.Specs;

namespace Geodesy.Tests.Specs;

/// <summary>`--data-seed`: the subset and label noise of a run can be drawn with a seed of their own.</summary>
public class DataSeedTests
{
    [Fact]
    public void RunsOfDifferentSeedsShareTheSubsetOfOneDataSeed()
    {
        var a = new RunSpec { Subset = 300, Seed = 1, DataSeed = 7 };
        var b = new RunSpec { Subset = 300, Seed = 2, DataSeed = 7 };
        var plain = new RunSpec { Subset = 300, Seed = 2 };
        Assert.Equal(7, a.DataOptions.Seed);
        Assert.Equal(2, plain.DataOptions.Seed);
        using var da = DataSpecs.Load("mnist", a.DataOptions);
        using var db = DataSpecs.Load("mnist", b.DataOptions);
        using var dp = DataSpecs.Load("mnist", plain.DataOptions);
        Assert.Equal(da.Sha256, db.Sha256);
        Assert.NotEqual(db.Sha256, dp.Sha256);
    }

    [Fact]
    public void WithoutADataSeedTheRunIdIsUnchanged()
    {
        var plain = new RunSpec { Subset = 300, Seed = 2 };
        Assert.DoesNotContain("data_seed", plain.CanonicalJson());
        Assert.Contains("\"data_seed\":7", (plain with { DataSeed = 7 }).CanonicalJson());
        var back = RunSpec.FromJson((plain with { DataSeed = 7 }).ToJson());
        Assert.Equal(7, back.DataSeed);
        Assert.Equal(plain.Id(), (back with { DataSeed = null }).Id());
    }
}
