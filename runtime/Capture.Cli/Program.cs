using Capture.Cli;

return CommandLine.Execute(args);
