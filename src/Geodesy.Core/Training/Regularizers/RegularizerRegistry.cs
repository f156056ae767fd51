namespace Geodesy.Core.Training.Regularizers;

/// <summary>
/// Every regularizer, by name, with its option shape and citation (docs/regularizers.md). The order
/// is the order in which penalties are formed at a step: the finite-difference Fisher penalty moves
/// the weights and must run before the shared forward pass, so it comes first.
/// </summary>
public static class RegularizerRegistry
{
    public sealed record Entry(string Name, string Usage, string Citation, Func<string, string, IRegularizer> Parse);

    // Adding a regularizer: one line here (see README.md).
    public static IReadOnlyList<Entry> Entries { get; } =
    [
        new(FisherPenalty.RegistryName, "X[,sub=B][,method=double-backward|finite-difference][,labels=sampled|true][,eps=E][@every=K]",
            "Jastrzebski et al. 2021, Catastrophic Fisher explosion: early phase Fisher matrix impacts generalization (ICML)", FisherPenalty.Parse),
        new(EarlyLearningRegularization.RegistryName, "LAMBDA[,beta=B]",
            "Liu et al. 2020, Early-learning regularization prevents memorization of noisy labels (NeurIPS)", EarlyLearningRegularization.Parse),
        new(LabelSmoothing.RegistryName, "X",
            "Szegedy et al. 2016, Rethinking the Inception architecture for computer vision (CVPR)", (option, text) => new LabelSmoothing(RegularizerOptions.Parse(option, text, []).Coefficient)),
        new(MarginRegularizer.RegistryName, "X[,var=V]",
            "Zhang and Zhou 2014, Large margin distribution machine (KDD); Lv et al. 2019, Optimal margin distribution network", MarginRegularizer.Parse),
        new(JacobianRegularizer.RegistryName, "X[,kind=orthogonal|frobenius][,projections=M]",
            "Wei et al. 2021, Orthogonal Jacobian regularization (ICCV); Hoffman et al. 2019, Robust learning with Jacobian regularization", JacobianRegularizer.Parse),
    ];

    /// <summary>The regularizer named <paramref name="name"/> built from its option text; "--name" is used in messages.</summary>
    public static IRegularizer Create(string name, string text)
    {
        var entry = Entries.FirstOrDefault(e => e.Name == name)
            ?? throw new InputException($"unknown regularizer '{name}' (known: {string.Join(", ", Entries.Select(e => e.Name))})");
        return entry.Parse("--" + name, text);
    }

    /// <summary>Puts regularizers in registry order (the order penalties are formed in).</summary>
    public static IReadOnlyList<IRegularizer> InOrder(IEnumerable<IRegularizer> regularizers) =>
        regularizers.OrderBy(r => Entries.ToList().FindIndex(e => e.Name == r.Name)).ToArray();
}
