import { arg, command } from '../../declare.js';

/** `lumen completion SHELL`: what it takes. The handler is completion.ts. */
export const completion = command({
  name: 'completion',
  description: 'print a shell completion script (bash, zsh or fish) for every command and flag',
  args: [arg('<shell>', 'bash | zsh | fish')],
  help:
    '\nExamples:\n' +
    '  $ source <(lumen completion bash)                                # now; add it to ~/.bashrc to keep it\n' +
    '  $ lumen completion zsh > "${fpath[1]}/_lumen"                    # then restart zsh\n' +
    '  $ lumen completion fish > ~/.config/fish/completions/lumen.fish',
});
