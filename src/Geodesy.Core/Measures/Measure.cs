namespace Geodesy.Core.Measures;

/// <summary>The shared shape of a measure: its catalog entry as constructor arguments, and Compute.</summary>
public abstract class Measure(string name, MeasureFamily family, MeasureNeeds needs, int cost, string formula, string citation) : IMeasure
{
    public string Name { get; } = name;
    public MeasureFamily Family { get; } = family;
    public MeasureNeeds Needs { get; } = needs;
    public int Cost { get; } = cost;
    public string Formula { get; } = formula;
    public string Citation { get; } = citation;
    public abstract MeasureValue Compute(MeasureContext context);
    public override string ToString() => Name;
}

/// <summary>The papers the measures come from (one place, so the catalog and docs agree).</summary>
public static class Citations
{
    public const string Fantastic = "Jiang, Neyshabur, Mobahi, Krishnan, Bengio. Fantastic Generalization Measures and Where to Find Them. ICLR 2020, Appendix C";
    public const string Bartlett = "Bartlett, Foster, Telgarsky. Spectrally-normalized margin bounds for neural networks. NeurIPS 2017";
    public const string Sedghi = "Sedghi, Gupta, Long. The Singular Values of Convolutional Layers. ICLR 2019";
    public const string FisherRao = "Liang, Poggio, Rakhlin, Stokes. Fisher-Rao Metric, Geometry, and Complexity of Neural Networks. AISTATS 2019";
    public const string Keskar = "Keskar, Mudigere, Nocedal, Smelyanskiy, Tang. On Large-Batch Training for Deep Learning: Generalization Gap and Sharp Minima. ICLR 2017";
    public const string Petzka = "Petzka, Kamp, Adilova, Sminchisescu, Boley. Relative Flatness and Generalization. NeurIPS 2021";
    public const string Papyan = "Papyan, Han, Donoho. Prevalence of neural collapse during the terminal phase of deep learning training. PNAS 2020";
    public const string Fort = "Fort, Nowak, Jastrzebski, Narayanan. Stiffness: A New Perspective on Generalization in Neural Networks. arXiv:1901.09491, 2019";
    public const string Martin = "Martin, Mahoney. Implicit Self-Regularization in Deep Neural Networks (WeightWatcher). JMLR 2021; Clauset, Shalizi, Newman. Power-law distributions in empirical data. SIAM Review 2009";
    public const string PyHessian = "Yao, Gholami, Keutzer, Mahoney. PyHessian: Neural Networks Through the Lens of the Hessian. IEEE BigData 2020; Keskar et al. ICLR 2017";
    public const string HutchPlusPlus = "Yao et al. PyHessian (IEEE BigData 2020) for the Hessian trace; Meyer, Musco, Musco, Woodruff. Hutch++: Optimal Stochastic Trace Estimation. SOSA 2021";
    public const string FisherTrace = "Jastrzebski, Arpit, Astrand, Kerg, Wang, Xiong, Socher, Cho, Geras. Catastrophic Fisher Explosion: Early Phase Fisher Matrix Impacts Generalization. ICML 2021";
    public const string Goldilocks = "Fort, Scherlis. The Goldilocks Zone: Towards Better Understanding of Neural Network Loss Landscapes. AAAI 2019";
    public const string Chatterji = "Chatterji, Neyshabur, Sedghi. The intriguing role of module criticality in the generalization of deep networks. ICLR 2020, Definition 3.1";
    public const string GradNoise = "Jiang et al. 2020 (Fantastic), grad-noise-final; Liu et al. Understanding Why Neural Networks Generalize Well Through GSNR of Parameters. ICLR 2020";
}
