import { Module } from '@nestjs/common';
import { CommandTree } from './usage-rules.js';
import { StateCommand, StateGetCommand, StateListCommand, StateSetCommand } from './commands/state.command.js';
import { AuditCommand, AuditShowCommand, AuditVerifyCommand } from './commands/audit.command.js';
import { MeshHandoffCommand } from './commands/mesh-handoff.command.js';
import { MeshStatsCommand } from './commands/mesh-stats.command.js';
import { PeerBlockCommand, PeerGrantCommand, PeerGrantsCommand, PeerRevokeCommand, PeerUnblockCommand } from './commands/peer-grants.command.js';
import { BackupCommand } from './commands/backup.command.js';
import { UpgradeCommand } from './commands/upgrade.command.js';
import { UrlHandlerCommand } from './commands/url-handler.command.js';
import { CompletionsCommand } from './commands/completions.command.js';
import { MeshShareCommand } from './commands/mesh-share.command.js';
import { PeerVerifyCommand } from './commands/peer-verify.command.js';
import { PeerTagAddCommand, PeerTagCommand, PeerTagListCommand, PeerTagRemoveCommand, PeerTagRepoCommand } from './commands/peer-tags.command.js';
import { RestoreCommand } from './commands/restore.command.js';
import { DaemonCommand, DaemonInstallCommand, DaemonRunCommand, DaemonStartCommand, DaemonStatusCommand, DaemonStopCommand, DaemonUninstallCommand } from './commands/daemon.command.js';
import { DoctorCommand } from './commands/doctor.command.js';
import { IdentityCommand } from './commands/identity.command.js';
import { InitCommand } from './commands/init.command.js';
import { GroupCommand, GroupJoinCommand, GroupLeaveCommand } from './commands/group.command.js';
import { InstallCommand } from './commands/install.command.js';
import { JoinCommand } from './commands/join.command.js';
import { LaunchCommand } from './commands/launch.command.js';
import { McpCommand } from './commands/mcp.command.js';
import { OpenLinkCommand } from './commands/open-link.command.js';
import { LeaveAliasCommand, ListAliasCommand, MeshCommand, MeshCreateCommand, MeshInviteCommand, MeshLeaveCommand, MeshListCommand } from './commands/mesh.command.js';
import { InboxAliasCommand, MessageCommand, MessageInboxCommand, MessageSendCommand, MessageStatusCommand, SendAliasCommand } from './commands/message.command.js';
import { PeerCommand, PeerListCommand, PeersAliasCommand } from './commands/peer.command.js';
import { StatusCommand, StatusSetCommand, SummaryCommand, SummarySetCommand } from './commands/presence.command.js';
import { StatusLineCommand } from './commands/status-line.command.js';
import { UninstallCommand } from './commands/uninstall.command.js';
import { WhoamiCommand } from './commands/whoami.command.js';
import { BridgeCommand, BridgeRunCommand, PluginAddCommand, PluginCommand, PluginListCommand, PluginLogsCommand, PluginRemoveCommand, PluginRunCommand, PluginStatusCommand } from './commands/plugin.command.js';
import { GatewayCommand, GatewayLinkCommand, GatewayUnlinkCommand } from './commands/gateway.command.js';
import { SkillCommand } from './commands/skill.command.js';
import { TopicAddCommand, TopicCommand, TopicCreateCommand, TopicHistoryCommand, TopicJoinCommand, TopicLeaveCommand, TopicListCommand, TopicMembersCommand, TopicReadCommand, TopicSendCommand, TopicTailCommand } from './commands/topic.command.js';
import { MemberRenameCommand, WhoamiRenameCommand } from './commands/member-rename.command.js';
import { MemberCommand, MemberListCommand, MemberRevokeCommand } from './commands/member.command.js';
import { MemberScopeCommand } from './commands/member-scope.command.js';
import { MeshInviteListCommand, MeshInviteRevokeCommand } from './commands/mesh-invites.command.js';
import { NotificationCommand, NotificationListCommand } from './commands/notification.command.js';
import { ApiKeyCommand, ApiKeyCreateCommand, ApiKeyListCommand, ApiKeyRevokeCommand } from './commands/apikey.command.js';
import { WebCommand } from './commands/web.command.js';
import { MeActivityCommand, MeCommand, MeNotificationsCommand, MeSearchCommand, MeShowCommand, MeTopicsCommand } from './commands/me.command.js';

/** The command tree: resource-noun-verb, plus the flat aliases (peers, send, inbox, list, leave). */
@Module({
  providers: [
    CommandTree,
    MeshCommand,
    MeshListCommand,
    MeshCreateCommand,
    MeshInviteCommand,
    MeshInviteListCommand,
    MeshInviteRevokeCommand,
    MeshLeaveCommand,
    ListAliasCommand,
    LeaveAliasCommand,
    JoinCommand,
    PeerCommand,
    PeerListCommand,
    PeersAliasCommand,
    MessageCommand,
    MessageSendCommand,
    MessageInboxCommand,
    MessageStatusCommand,
    SendAliasCommand,
    InboxAliasCommand,
    StatusCommand,
    StatusSetCommand,
    SummaryCommand,
    SummarySetCommand,
    GroupCommand,
    GroupJoinCommand,
    GroupLeaveCommand,
    WhoamiCommand,
    BridgeCommand,
    BridgeRunCommand,
    GatewayCommand,
    GatewayLinkCommand,
    GatewayUnlinkCommand,
    PluginCommand,
    PluginListCommand,
    PluginAddCommand,
    PluginRemoveCommand,
    PluginRunCommand,
    PluginStatusCommand,
    PluginLogsCommand,
    SkillCommand,
    WhoamiRenameCommand,
    DoctorCommand,
    PeerVerifyCommand,
    MeshShareCommand,
    BackupCommand,
    RestoreCommand,
    CompletionsCommand,
    UrlHandlerCommand,
    UpgradeCommand,
    DaemonCommand,
    DaemonStartCommand,
    DaemonStopCommand,
    DaemonStatusCommand,
    DaemonRunCommand,
    DaemonInstallCommand,
    DaemonUninstallCommand,
    InitCommand,
    IdentityCommand,
    McpCommand,
    InstallCommand,
    UninstallCommand,
    LaunchCommand,
    OpenLinkCommand,
    StatusLineCommand,
    AuditCommand,
    AuditShowCommand,
    AuditVerifyCommand,
    MeshHandoffCommand,
    MeshStatsCommand,
    PeerGrantsCommand,
    PeerGrantCommand,
    PeerRevokeCommand,
    PeerBlockCommand,
    PeerUnblockCommand,
    PeerTagCommand,
    PeerTagAddCommand,
    PeerTagRemoveCommand,
    PeerTagListCommand,
    PeerTagRepoCommand,
    StateCommand,
    StateSetCommand,
    StateGetCommand,
    StateListCommand,
    TopicCommand,
    TopicCreateCommand,
    TopicListCommand,
    TopicJoinCommand,
    TopicLeaveCommand,
    TopicMembersCommand,
    TopicAddCommand,
    TopicHistoryCommand,
    TopicSendCommand,
    TopicReadCommand,
    TopicTailCommand,
    MemberCommand,
    MemberListCommand,
    MemberRenameCommand,
    MemberRevokeCommand,
    MemberScopeCommand,
    NotificationCommand,
    NotificationListCommand,
    ApiKeyCommand,
    WebCommand,
    ApiKeyCreateCommand,
    ApiKeyListCommand,
    ApiKeyRevokeCommand,
    MeCommand,
    MeShowCommand,
    MeTopicsCommand,
    MeNotificationsCommand,
    MeActivityCommand,
    MeSearchCommand,
  ],
})
export class CliModule {}
