using System.CommandLine;
using Geodesy.Cli;

return GeodesyCli.Run(args);
