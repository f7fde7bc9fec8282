/* SPDX-License-Identifier: Apache-2.0 */
#include "center/db/privileges.h"

#include <errno.h>
#include <string.h>

#include "center/db/db.h"
#include "common/error.h"
#include "common/util.h"

const struct privilege_def center_privileges[] = {
	{"System.Anonymous", "see that the server exists"},
	{"System.View", "see objects in the inventory"},
	{"System.Read", "read object properties"},

	{"Global.CancelTask", "cancel a task"},
	{"Global.LogEvent", "log a user event"},
	{"Global.Settings", "change server settings"},
	{"Global.Licenses", "manage licences"},
	{"Global.Diagnostics", "download diagnostics"},
	{"Global.ManageCustomFields", "define custom attributes"},
	{"Global.SetCustomField", "set custom attribute values"},

	{"Folder.Create", "create a folder"},
	{"Folder.Delete", "delete a folder"},
	{"Folder.Rename", "rename a folder"},
	{"Folder.Move", "move a folder"},

	{"Datacenter.Create", "create a datacenter"},
	{"Datacenter.Delete", "delete a datacenter"},
	{"Datacenter.Rename", "rename a datacenter"},
	{"Datacenter.Move", "move a datacenter"},

	{"Datastore.AllocateSpace", "use space on a datastore for disks, snapshots, clones"},
	{"Datastore.Browse", "browse the files of a datastore"},
	{"Datastore.FileManagement", "copy, move and delete datastore files"},
	{"Datastore.Config", "configure a datastore"},
	{"Datastore.Rename", "rename a datastore"},
	{"Datastore.Move", "move a datastore between folders"},
	{"Datastore.Delete", "remove a datastore"},

	{"Network.Assign", "connect a VM's network adapter to a network"},
	{"Network.Config", "configure a network"},
	{"Network.Move", "move a network between folders"},
	{"Network.Delete", "remove a network"},
	{"DVSwitch.Create", "create a distributed switch"},
	{"DVSwitch.Modify", "configure a distributed switch"},
	{"DVSwitch.Delete", "delete a distributed switch"},
	{"DVPortgroup.Create", "create a distributed port group"},
	{"DVPortgroup.Modify", "configure a distributed port group"},
	{"DVPortgroup.Delete", "delete a distributed port group"},

	{"Host.Inventory.AddStandaloneHost", "add a standalone host"},
	{"Host.Inventory.AddHostToCluster", "add a host to a cluster"},
	{"Host.Inventory.RemoveHostFromCluster", "remove a host from a cluster"},
	{"Host.Inventory.MoveHost", "move a host"},
	{"Host.Inventory.CreateCluster", "create a cluster"},
	{"Host.Inventory.EditCluster", "configure a cluster"},
	{"Host.Inventory.DeleteCluster", "delete a cluster"},
	{"Host.Config.Maintenance", "enter and leave maintenance mode"},
	{"Host.Config.Connection", "connect and disconnect a host"},
	{"Host.Config.Network", "configure a host's networking"},
	{"Host.Config.Storage", "configure a host's storage"},
	{"Host.Config.Settings", "change a host's advanced settings"},
	{"Host.Config.Power", "reboot and shut down a host"},

	{"Resource.CreatePool", "create a resource pool"},
	{"Resource.EditPool", "change a resource pool's allocation"},
	{"Resource.RenamePool", "rename a resource pool"},
	{"Resource.MovePool", "move a resource pool"},
	{"Resource.DeletePool", "delete a resource pool"},
	{"Resource.AssignVMToPool", "put a VM in a resource pool"},
	{"Resource.HotMigrate", "migrate a powered-on VM"},
	{"Resource.ColdMigrate", "migrate a powered-off VM"},
	{"Resource.ApplyRecommendation", "apply a placement recommendation"},

	{"VirtualMachine.Inventory.Create", "create a VM"},
	{"VirtualMachine.Inventory.CreateFromExisting", "create a VM from an existing one"},
	{"VirtualMachine.Inventory.Register", "register a VM"},
	{"VirtualMachine.Inventory.Unregister", "unregister a VM"},
	{"VirtualMachine.Inventory.Delete", "delete a VM and its files"},
	{"VirtualMachine.Inventory.Move", "move a VM between folders"},
	{"VirtualMachine.Interact.PowerOn", "power on or resume a VM"},
	{"VirtualMachine.Interact.PowerOff", "power off a VM"},
	{"VirtualMachine.Interact.Suspend", "suspend a VM"},
	{"VirtualMachine.Interact.Reset", "reset a VM"},
	{"VirtualMachine.Interact.ConsoleInteract", "use a VM's console"},
	{"VirtualMachine.Interact.DeviceConnection", "connect and disconnect devices"},
	{"VirtualMachine.Interact.SetCDMedia", "change the CD medium"},
	{"VirtualMachine.Interact.AnswerQuestion", "answer a VM's question"},
	{"VirtualMachine.Interact.GuestControl", "shut down or restart the guest"},
	{"VirtualMachine.Config.Rename", "rename a VM"},
	{"VirtualMachine.Config.Annotation", "edit a VM's notes"},
	{"VirtualMachine.Config.CPUCount", "change the number of CPUs"},
	{"VirtualMachine.Config.Memory", "change the memory size"},
	{"VirtualMachine.Config.AddNewDisk", "add a new disk"},
	{"VirtualMachine.Config.AddExistingDisk", "add an existing disk"},
	{"VirtualMachine.Config.RemoveDisk", "remove a disk"},
	{"VirtualMachine.Config.DiskExtend", "grow a disk"},
	{"VirtualMachine.Config.AddRemoveDevice", "add or remove devices"},
	{"VirtualMachine.Config.EditDevice", "change device settings"},
	{"VirtualMachine.Config.Settings", "change general settings"},
	{"VirtualMachine.Config.Resource", "change CPU and memory allocation"},
	{"VirtualMachine.Config.AdvancedConfig", "change advanced settings"},
	{"VirtualMachine.Config.ChangeTracking", "turn changed block tracking on or off"},
	{"VirtualMachine.Config.UpgradeVirtualHardware", "upgrade the virtual hardware"},
	{"VirtualMachine.State.CreateSnapshot", "take a snapshot"},
	{"VirtualMachine.State.RevertToSnapshot", "revert to a snapshot"},
	{"VirtualMachine.State.RemoveSnapshot", "delete a snapshot"},
	{"VirtualMachine.State.RenameSnapshot", "rename a snapshot"},
	{"VirtualMachine.Provisioning.Clone", "clone a VM"},
	{"VirtualMachine.Provisioning.CloneTemplate", "clone a template"},
	{"VirtualMachine.Provisioning.DeployTemplate", "deploy a VM from a template"},
	{"VirtualMachine.Provisioning.MarkAsTemplate", "turn a VM into a template"},
	{"VirtualMachine.Provisioning.MarkAsVM", "turn a template into a VM"},
	{"VirtualMachine.Provisioning.Customize", "customise the guest"},
	{"VirtualMachine.Provisioning.GetVmFiles", "download a VM's files"},
	{"VirtualMachine.Provisioning.PutVmFiles", "upload a VM's files"},
	{"VirtualMachine.GuestOperations.Query", "query the guest"},
	{"VirtualMachine.GuestOperations.Modify", "change files in the guest"},
	{"VirtualMachine.GuestOperations.Execute", "run programs in the guest"},

	{"Task.Create", "create a task (extensions)"},
	{"Task.Update", "update a task (extensions)"},
	{"ScheduledTask.Create", "schedule a task"},
	{"ScheduledTask.Edit", "edit a scheduled task"},
	{"ScheduledTask.Delete", "delete a scheduled task"},
	{"ScheduledTask.Run", "run a scheduled task now"},

	{"Alarm.Create", "create an alarm"},
	{"Alarm.Edit", "edit an alarm"},
	{"Alarm.Delete", "delete an alarm"},
	{"Alarm.Acknowledge", "acknowledge a triggered alarm"},
	{"Alarm.SetStatus", "set an alarm's status"},
	{"Alarm.DisableActions", "turn alarm actions off or on"},

	{"Authorization.ModifyRoles", "create, edit and delete roles"},
	{"Authorization.ModifyPermissions", "grant and revoke permissions"},
	{"Authorization.ReassignRolePermissions", "move permissions to another role"},
	{"Sessions.TerminateSession", "end other users' sessions"},
	{"Sessions.ValidateSession", "check that a session is valid"},
	{"Performance.ModifyIntervals", "change statistics intervals"},
};
const size_t center_privileges_count = ARRAY_SIZE(center_privileges);

static const char *const no_access[] = {NULL};
static const char *const read_only[] = {"System.*", NULL};
static const char *const vm_user[] = {
	"System.*",
	"Global.CancelTask",
	"VirtualMachine.Interact.*",
	"ScheduledTask.*",
	NULL,
};
static const char *const vm_admin[] = {
	"System.*",
	"Global.CancelTask",
	"Global.LogEvent",
	"Global.SetCustomField",
	"Folder.*",
	"VirtualMachine.*",
	"Datastore.AllocateSpace",
	"Datastore.Browse",
	"Datastore.FileManagement",
	"Network.Assign",
	"Resource.AssignVMToPool",
	"Resource.HotMigrate",
	"Resource.ColdMigrate",
	"Alarm.Acknowledge",
	"Alarm.SetStatus",
	"ScheduledTask.*",
	NULL,
};
static const char *const admin[] = {"*", NULL};

const struct role_def center_builtin_roles[] = {
	{"NoAccess", "No access", "cannot see or change the objects", no_access},
	{"ReadOnly", "Read-only", "can see the objects, change nothing", read_only},
	{"VirtualMachineUser", "Virtual machine user",
	 "can power VMs on and off, use their consoles and media", vm_user},
	{"VirtualMachineAdministrator", "Virtual machine administrator",
	 "can create, configure, snapshot, clone, migrate and delete VMs", vm_admin},
	{"Admin", "Administrator", "all privileges", admin},
};
const size_t center_builtin_roles_count = ARRAY_SIZE(center_builtin_roles);

bool privilege_matches(const char *pattern, const char *id)
{
	if (strcmp(pattern, "*") == 0)
		return true;
	size_t n = strlen(pattern);
	if (n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '*')
		return strncmp(id, pattern, n - 1) == 0; /* prefix including the dot */
	return strcmp(pattern, id) == 0;
}

static bool role_has(const struct role_def *role, const char *id)
{
	for (const char *const *p = role->patterns; *p; p++)
		if (privilege_matches(*p, id))
			return true;
	return false;
}

int privileges_seed(struct db *db, int64_t now_ms, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *pv = NULL;
	int r = db_prepare(db, "insert a privilege",
			   "INSERT INTO privilege (id, privilege_group, description) VALUES ($1, $2, $3)",
			   &pv, err);
	for (size_t i = 0; r >= 0 && i < center_privileges_count; i++) {
		const char *id = center_privileges[i].id;
		_cleanup_free_ char *group = xstrndup(id, (size_t)(strrchr(id, '.') - id));
		db_bind_text(pv, 1, id);
		db_bind_text(pv, 2, group);
		db_bind_text(pv, 3, center_privileges[i].description);
		r = db_step(pv, err);
	}
	if (r < 0)
		return r;

	_cleanup_stmt_ struct db_stmt *role = NULL, *grant = NULL;
	r = db_prepare(db, "insert a built-in role",
		       "INSERT INTO role (name, label, description, is_system, created_ms, modified_ms)"
		       " VALUES ($1, $2, $3, TRUE, $4, $4) RETURNING id",
		       &role, err);
	if (r == 0)
		r = db_prepare(db, "grant a privilege to a built-in role",
			       "INSERT INTO role_privilege (role_id, privilege_id) VALUES ($1, $2)",
			       &grant, err);
	for (size_t i = 0; r >= 0 && i < center_builtin_roles_count; i++) {
		const struct role_def *rd = &center_builtin_roles[i];
		db_bind_text(role, 1, rd->name);
		db_bind_text(role, 2, rd->label);
		db_bind_text(role, 3, rd->description);
		db_bind_int64(role, 4, now_ms);
		r = db_step(role, err);
		if (r == 0)
			r = vr_error_set(err, EIO, "insert a built-in role: no id returned");
		if (r < 0)
			break;
		int64_t role_id = db_column_int64(role, 0);
		db_reset(role);
		for (size_t p = 0; r >= 0 && p < center_privileges_count; p++) {
			if (!role_has(rd, center_privileges[p].id))
				continue;
			db_bind_int64(grant, 1, role_id);
			db_bind_text(grant, 2, center_privileges[p].id);
			r = db_step(grant, err);
		}
	}
	return r < 0 ? r : 0;
}
